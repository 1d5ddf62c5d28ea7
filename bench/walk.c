/* The floor for checking every story file for hand edits: readdir + fstatat of
   every *.md file in every stage directory. Usage: walk <stories_dir> */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: walk <stories_dir>\n");
    return 2;
  }
  DIR* top = opendir(argv[1]);
  if (!top) {
    perror(argv[1]);
    return 1;
  }
  long files = 0;
  struct dirent* stage;
  while ((stage = readdir(top))) {
    if (stage->d_name[0] == '.') continue;
    int fd = openat(dirfd(top), stage->d_name, O_RDONLY | O_DIRECTORY);
    if (fd < 0) continue;
    DIR* d = fdopendir(fd);
    struct dirent* e;
    while ((e = readdir(d))) {
      size_t n = strlen(e->d_name);
      if (e->d_name[0] == '.' || n < 3 || strcmp(e->d_name + n - 3, ".md") != 0) continue;
      struct stat st;
      if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) files++;
    }
    closedir(d);
  }
  closedir(top);
  printf("%ld\n", files);
  return 0;
}
