/* The one version string every ringq program prints (--version) and exports (build_info).
 * Bump RT_VERSION with each release. RT_VERSION_GIT comes from rt_version_git.h, which the
 * Makefile writes into $(BUILD)/gen from `git describe` ("unknown" outside a git checkout). */
#ifndef RT_VERSION_H
#define RT_VERSION_H

#define RT_VERSION "0.5.0"

#if __has_include("rt_version_git.h")
#include "rt_version_git.h"
#endif
#ifndef RT_VERSION_GIT
#define RT_VERSION_GIT "unknown"
#endif

#endif
