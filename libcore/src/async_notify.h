/*  =========================================================================
    async_notify - tell the service manager how the program is doing

    The notification protocol of systemd (sd_notify): one datagram of
    "NAME=VALUE" lines to the unix socket named by $NOTIFY_SOCKET (a path,
    or "@name" for the abstract namespace). Written here rather than linked
    from libsystemd: the programs run the same without systemd, and the
    protocol is a stable interface of a few lines.
    =========================================================================
*/
#ifndef ASYNC_NOTIFY_H_INCLUDED
#define ASYNC_NOTIFY_H_INCLUDED

//  Send `state` ("READY=1", "STOPPING=1", ...) to $NOTIFY_SOCKET. 0 when
//  sent or when there is no $NOTIFY_SOCKET (not run by a service manager);
//  -1 when it could not be sent (errno says why). Never blocks.
int
    async_notify (const char *state);

#endif
