/* core/rt_notify: the systemd readiness protocol (sd_notify(3)) without libsystemd. The
 * service manager passes a unix datagram socket in $NOTIFY_SOCKET (a path, or an abstract name
 * written with a leading '@'); each state change is one datagram of newline-separated
 * VAR=value lines: READY=1 once serving, STOPPING=1 when shutting down, STATUS=text. */
#ifndef RT_NOTIFY_H
#define RT_NOTIFY_H

/* Sends `state` (e.g. "READY=1\nSTATUS=listening") to $NOTIFY_SOCKET. Returns 1 when sent, 0
 * when NOTIFY_SOCKET is unset or empty (not run by a service manager: nothing to do), -EINVAL
 * (a name that is not an absolute path or '@'-name), -ENAMETOOLONG, or the negative errno of
 * socket/sendto. Only reads the environment and borrows `state` for the call; safe from any
 * thread. */
int rt_notify(const char *state);

#endif
