/*  =========================================================================
    async_notify - tell the service manager how the program is doing
    =========================================================================
*/
#include "async_notify.h"
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
async_notify (const char *state)
{
    const char *path = getenv ("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    size_t length = strlen (path);
    if ((path [0] != '/' && path [0] != '@') || length >= sizeof address.sun_path) {
        errno = EINVAL;
        return -1;
    }
    memcpy (address.sun_path, path, length);
    if (path [0] == '@')
        address.sun_path [0] = 0;       //  the abstract namespace
    int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    socklen_t size = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + length);
    ssize_t sent = sendto (fd, state, strlen (state), MSG_NOSIGNAL,
                           (struct sockaddr *) &address, size);
    int error = errno;
    close (fd);
    errno = error;
    return sent < 0 ? -1 : 0;
}
