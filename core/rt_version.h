/* The one version string every ringq program prints (--version) and exports (build_info).
 * Bump RT_VERSION with each release; RT_VERSION_GIT is set by the Makefile from `git describe`
 * when the tree is a git checkout, else "unknown". */
#ifndef RT_VERSION_H
#define RT_VERSION_H

#define RT_VERSION "0.5.0"

#ifndef RT_VERSION_GIT
#define RT_VERSION_GIT "unknown"
#endif

#endif
