// The commits tracker makes, written without libgit2: loose objects, a
// compare-and-swap update of the branch with its reflog, and a splice of the git
// index. It reads loose and packed objects, refs and packed-refs, and the git
// config, and hands anything it does not fully understand (SHA-256 or reftable
// repositories, index v4 or a split index, config includes) back to libgit2.
#pragma once

#include <tracker/git.hpp>
#include <tracker/workspace.hpp>

#include <optional>
#include <string>

namespace tracker {

/// Why the native writer cannot commit in this repository ("" when it can). A
/// cheap look at the config and the git index header; set TRACKER_LIBGIT2=1 in the
/// environment to always use libgit2.
std::string native_commit_unsupported(const GitDirs& dirs);

/// The native GitRepo::commit_paths(): the same commit, byte for byte, and the same
/// git index update. nullopt when the repository turned out to need libgit2; the
/// branch and the git index are untouched then (unreferenced loose objects may
/// remain, as after any aborted git command).
std::optional<CommitResult> native_commit_paths(const GitDirs& dirs, const CommitRequest& request);

}  // namespace tracker
