/* Makes the calls named on its command line, raw (no libc fallback), each in a child process of
 * its own (an unshare must not change what the next call finds), and prints one line for each:
 * "NAME ok" or "NAME ERRNO-NUMBER". Built static by the seccomp tests (cc -static) and bound into
 * a container, so that what the filter answers is seen directly. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long clone_with(unsigned long flags) {
    /* a fork through clone(2): a NULL stack means the child runs on a copy of this one */
    long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0)
        _exit(0);
    if (pid > 0)
        waitpid((pid_t)pid, 0, 0);
    return pid;
}

#ifdef __x86_64__
/* keyctl through the other two ABIs of an x86_64 kernel: i386's int 0x80 and x32's flagged numbers */
static long keyctl_i386(void) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(288L), "b"(0L), "c"(-3L), "d"(0L) : "memory");
    if (ret < 0 && ret > -4096) {
        errno = (int)-ret;
        return -1;
    }
    return ret;
}

static long keyctl_x32(void) { return syscall(0x40000000L | SYS_keyctl, 0, -3, 0); }
#endif

static long call(const char *name) {
#ifdef __x86_64__
    if (!strcmp(name, "keyctl_i386")) return keyctl_i386();
    if (!strcmp(name, "keyctl_x32")) return keyctl_x32();
#endif
    if (!strcmp(name, "getpid")) return syscall(SYS_getpid);
    if (!strcmp(name, "nr400")) return syscall(400);   /* a hole in the table, below the newest call */
    if (!strcmp(name, "nr1000")) return syscall(1000); /* beyond every call there is */
    if (!strcmp(name, "keyctl")) return syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0);
    if (!strcmp(name, "bpf")) return syscall(SYS_bpf, -1, 0, 0);
    if (!strcmp(name, "io_uring_setup")) return syscall(SYS_io_uring_setup, 0, 0);
    if (!strcmp(name, "unshare_user")) return syscall(SYS_unshare, CLONE_NEWUSER);
    if (!strcmp(name, "clone_plain")) return clone_with(0);
    if (!strcmp(name, "clone_newuser")) return clone_with(CLONE_NEWUSER);
    if (!strcmp(name, "clone3")) return syscall(SYS_clone3, 0, 0);
    if (!strcmp(name, "socket_inet")) return syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    if (!strcmp(name, "socket_vsock")) return syscall(SYS_socket, 40 /* AF_VSOCK */, SOCK_STREAM, 0);
    if (!strcmp(name, "socket_alg")) return syscall(SYS_socket, 38 /* AF_ALG */, SOCK_SEQPACKET, 0);
    if (!strcmp(name, "personality_query")) return syscall(SYS_personality, 0xffffffffUL);
    if (!strcmp(name, "personality_noaslr")) return syscall(SYS_personality, 0x0040000UL);
    if (!strcmp(name, "mount")) return syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, 0);
    if (!strcmp(name, "kcmp")) return syscall(SYS_kcmp, getpid(), getpid(), 0 /* KCMP_FILE */, 0, 0);
    if (!strcmp(name, "ptrace")) return syscall(SYS_ptrace, PTRACE_PEEKDATA, getppid(), 0, 0);
    errno = 0;
    return -2;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        fflush(stdout);
        pid_t child = fork();
        if (child < 0) {
            perror("fork");
            return 2;
        }
        if (child == 0) {
            errno = 0;
            long rc = call(argv[i]);
            if (rc == -2 && errno == 0) {
                fprintf(stderr, "unknown probe %s\n", argv[i]);
                _exit(2);
            }
            if (rc < 0)
                printf("%s %d\n", argv[i], errno);
            else
                printf("%s ok\n", argv[i]);
            fflush(stdout);
            _exit(0);
        }
        int status;
        if (waitpid(child, &status, 0) != child)
            return 2;
        if (WIFSIGNALED(status)) { /* the filter ended it (SIGSYS): an ABI the filter leaves out */
            printf("%s sig%d\n", argv[i], WTERMSIG(status));
            continue;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return 2;
    }
    return 0;
}
