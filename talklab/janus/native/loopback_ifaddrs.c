/*
 * loopback_ifaddrs.c: make a program see only this machine's 127.x IPv4 addresses.
 *
 * Loaded into Janus with LD_PRELOAD, this wraps the C library's getifaddrs(3), the call through
 * which Janus (src/ice.c, janus_ice_setup_local) and libnice list the machine's interfaces.
 * The list it returns keeps only the IPv4 entries inside 127.0.0.0/8, each with its
 * IFF_LOOPBACK flag cleared:
 *
 *   - Janus skips every interface flagged IFF_LOOPBACK when it gathers candidates, so without
 *     clearing the flag it would offer nothing on loopback;
 *   - told to use only "lo" (ice_enforce_list), it then adds no address at all, and libnice
 *     falls back to gathering on EVERY other interface, sending connectivity checks out of
 *     them. With this list there is no other interface to fall back to.
 *
 * It also ties Janus to the process that started it: when TALKLAB_JANUS_PARENT names that
 * process, Janus asks the kernel for SIGTERM when its parent ends (prctl PR_SET_PDEATHSIG), so a
 * kernel or test run that dies without closing its Janus leaves no Janus behind.
 *
 * And it makes Janus's log line-buffered: Janus logs to stdout, a pipe to talklab, which the C
 * library buffers in blocks; Janus 1.1.2 can crash (SIGSEGV) right after logging why it cannot
 * start (a configuration it cannot parse), and the buffered lines that say why died with it.
 *
 * The result is a private copy in one malloc'd block (the entries, their addresses and names),
 * so freeifaddrs(3), wrapped too, frees it with one free(). Nothing else is changed.
 * Build: cc -shared -fPIC -O2 -o libtalklab_loopback.so loopback_ifaddrs.c -ldl
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

__attribute__((constructor)) static void follow_parent(void) {
    const char *parent = getenv("TALKLAB_JANUS_PARENT");
    if (parent == NULL || *parent == '\0')
        return;
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != (pid_t)atol(parent))
        raise(SIGTERM); /* the parent was already gone before the request took effect */
}

__attribute__((constructor)) static void log_by_lines(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
}

/* One kept entry and everything it points to, laid out together. */
struct kept {
    struct ifaddrs entry;
    struct sockaddr_in address;
    struct sockaddr_in netmask;
    char name[IF_NAMESIZE + 1];
};

static int is_loopback_ipv4(const struct sockaddr *address) {
    if (address == NULL || address->sa_family != AF_INET)
        return 0;
    const struct sockaddr_in *in = (const struct sockaddr_in *)address;
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
}

int getifaddrs(struct ifaddrs **result) {
    int (*real_getifaddrs)(struct ifaddrs **) =
        (int (*)(struct ifaddrs **))dlsym(RTLD_NEXT, "getifaddrs");
    void (*real_freeifaddrs)(struct ifaddrs *) =
        (void (*)(struct ifaddrs *))dlsym(RTLD_NEXT, "freeifaddrs");
    struct ifaddrs *all = NULL;
    size_t count = 0, i = 0;

    if (result == NULL || real_getifaddrs == NULL || real_freeifaddrs == NULL) {
        errno = EINVAL;
        return -1;
    }
    *result = NULL;
    if (real_getifaddrs(&all) != 0)
        return -1;
    for (struct ifaddrs *ifa = all; ifa != NULL; ifa = ifa->ifa_next)
        count += is_loopback_ipv4(ifa->ifa_addr);
    if (count == 0) {
        real_freeifaddrs(all);
        return 0; /* an empty list, as on a machine with no interface up */
    }
    struct kept *copy = calloc(count, sizeof(struct kept));
    if (copy == NULL) {
        real_freeifaddrs(all);
        errno = ENOMEM;
        return -1;
    }
    for (struct ifaddrs *ifa = all; ifa != NULL; ifa = ifa->ifa_next) {
        if (!is_loopback_ipv4(ifa->ifa_addr))
            continue;
        struct kept *k = &copy[i];
        memcpy(&k->address, ifa->ifa_addr, sizeof(struct sockaddr_in));
        if (ifa->ifa_netmask != NULL && ifa->ifa_netmask->sa_family == AF_INET)
            memcpy(&k->netmask, ifa->ifa_netmask, sizeof(struct sockaddr_in));
        else
            k->netmask.sin_family = AF_INET;
        strncpy(k->name, ifa->ifa_name ? ifa->ifa_name : "lo", IF_NAMESIZE);
        k->entry.ifa_name = k->name;
        k->entry.ifa_flags = ifa->ifa_flags & ~(unsigned int)IFF_LOOPBACK;
        k->entry.ifa_addr = (struct sockaddr *)&k->address;
        k->entry.ifa_netmask = (struct sockaddr *)&k->netmask;
        k->entry.ifa_next = (i + 1 < count) ? &copy[i + 1].entry : NULL;
        i++;
    }
    real_freeifaddrs(all);
    *result = &copy[0].entry; /* entry is the first member: this is the block's address */
    return 0;
}

void freeifaddrs(struct ifaddrs *list) {
    free(list); /* every list this process sees came from the getifaddrs above */
}
