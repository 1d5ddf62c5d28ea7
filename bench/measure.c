/* Times a command without a shell in the way and reports its peak memory.

   measure [--runs N] [--warmup N] [--before SHELL-CMD] [--each FILE] -- CMD ARG...

   Runs CMD (stdout and stderr to /dev/null) warmup + runs times and prints
   "<median wall ms> <peak RSS KiB>": the median of the timed runs, and the largest
   ru_maxrss of any run. --before runs a shell command, untimed, before each run
   (e.g. deleting the index for a cold start). --each gives a file whose line i
   replaces "{}" in the arguments of run i (for commands that change state, such
   as moving the next story). Exit 1 if any run fails. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  int runs = 7, warmup = 1, i = 1;
  const char* before = NULL;
  const char* each = NULL;
  for (; i < argc && strcmp(argv[i], "--") != 0; i += 2) {
    if (i + 1 >= argc) break;
    if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--warmup")) warmup = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--before")) before = argv[i + 1];
    else if (!strcmp(argv[i], "--each")) each = argv[i + 1];
    else break;
  }
  if (i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc || runs < 1 || warmup < 0) {
    fprintf(stderr, "usage: measure [--runs N] [--warmup N] [--before CMD] [--each FILE] -- CMD ARG...\n");
    return 2;
  }
  char** cmd = argv + i + 1;
  int ncmd = argc - i - 1;
  FILE* lines = NULL;
  if (each && !(lines = fopen(each, "r"))) {
    perror(each);
    return 2;
  }
  double* times = calloc((size_t)runs, sizeof(double));
  long peak = 0;
  char** args = calloc((size_t)ncmd + 1, sizeof(char*));
  char line[4096];
  for (int r = 0; r < warmup + runs; r++) {
    if (before && system(before) != 0) {
      fprintf(stderr, "measure: --before command failed\n");
      return 1;
    }
    for (int k = 0; k < ncmd; k++) args[k] = cmd[k];
    if (lines) {
      if (!fgets(line, sizeof line, lines)) {
        fprintf(stderr, "measure: %s has fewer lines than runs\n", each);
        return 1;
      }
      line[strcspn(line, "\n")] = 0;
      for (int k = 0; k < ncmd; k++) {
        char* at = strstr(cmd[k], "{}");
        if (!at) continue;
        size_t n = strlen(cmd[k]) + strlen(line);
        args[k] = malloc(n + 1);
        snprintf(args[k], n + 1, "%.*s%s%s", (int)(at - cmd[k]), cmd[k], line, at + 2);
      }
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid == 0) {
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      execvp(args[0], args);
      _exit(127);
    }
    int status = 0;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "measure: %s failed (status %d)\n", args[0], status);
      return 1;
    }
    for (int k = 0; k < ncmd; k++)
      if (args[k] != cmd[k]) free(args[k]);
    if (ru.ru_maxrss > peak) peak = ru.ru_maxrss;
    if (r >= warmup) times[r - warmup] = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
  }
  qsort(times, (size_t)runs, sizeof(double), cmp);
  double median = runs % 2 ? times[runs / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
  printf("%.1f %ld\n", median, peak);
  return 0;
}
