# Writes the source commit into a header at every build, not only at configure time, so that the
# report of an incremental build names the commit it was built from. Run by the symbreak_git_commit
# target: cmake -DSOURCE_DIR=... -DOUTPUT=... -P git_commit.cmake. The header is rewritten only when
# its text changes, so an unchanged commit recompiles nothing. "+modified" marks a build from sources
# that differ from that commit (experiments/results, which running sweeps change, is not counted).
execute_process(COMMAND git rev-parse --short HEAD WORKING_DIRECTORY ${SOURCE_DIR}
  OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE no_git)
if(no_git OR NOT commit)
  set(commit unknown)
else()
  execute_process(COMMAND git diff --quiet HEAD -- . ":(exclude)experiments/results" WORKING_DIRECTORY ${SOURCE_DIR}
    RESULT_VARIABLE modified OUTPUT_QUIET ERROR_QUIET)
  if(modified EQUAL 1)
    string(APPEND commit "+modified")
  endif()
endif()
set(text "// Generated at build time by experiments/reproduce/git_commit.cmake.\n#pragma once\n#define SYMBREAK_GIT_COMMIT \"${commit}\"\n")
if(EXISTS ${OUTPUT})
  file(READ ${OUTPUT} old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE ${OUTPUT} "${text}")
endif()
