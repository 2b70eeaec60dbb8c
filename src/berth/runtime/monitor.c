/* berth-monitor: the per-container monitor that outlives berth (built by scripts/setup-venv).
 *
 * It has the OCI runtime create and start the container in one call (`runtime run --detach`),
 * holds the container's stdio (pipes, or the pty master that the runtime hands over through a
 * console socket), appends the output to a k8s-file log, serves the attach socket, records the
 * exit code in an exit file, and finally execs the exit command. It does what berth used conmon
 * for, and no more: conmon's start-up (glib, one more runtime call for `start`) was the biggest
 * fixed cost of `berth run` after the runtime itself.
 *
 * Protocol with berth (src/berth/runtime/monitor.py):
 *   berth-monitor --runtime PATH [--runtime-arg A]... --id CID --bundle DIR --pid-file F
 *       --exit-file F --log F --sync-fd N [--attach-fd N] [--terminal] [--stdin]
 *       [--exit-lock F] [-- EXIT-COMMAND ARG...]
 *   The first process exits as soon as the monitor is daemonized. The monitor writes one line to
 *   the sync fd: "<container pid> <monitor pid>\n" once the container runs, or "-1 <status>\n" when
 *   the runtime failed (the runtime's own log says why).
 *   Attach socket: SOCK_SEQPACKET at BUNDLE/attach. Each output message is one byte naming
 *   the stream (2 stdout, 3 stderr) and the data; what a client sends goes to the container's
 *   stdin, and a client's shutdown(SHUT_WR) closes it. --attach-fd is a client connected before
 *   the container starts, so that it misses no output.
 *   BUNDLE/ctl: a fifo of "1 ROWS COLS\n" lines, terminal resizes.
 *   Exit file: the exit code (128+N for signal N), written atomically once the output has ended.
 *   The exit command runs last, unless another process holds the --exit-lock file locked (flock):
 *   a client in the foreground that handles the exit itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 32768 /* attach messages carry at most this much data (berth reads CHUNK + 1) */
#define MAX_CLIENTS 32
#define MAX_ARGS 64

enum { STDOUT_STREAM = 2, STDERR_STREAM = 3 };

static struct {
    const char *runtime, *id, *bundle, *pid_file, *exit_file, *log, *exit_lock;
    const char *runtime_args[MAX_ARGS];
    int n_runtime_args, sync_fd, attach_fd, terminal, stdin_open;
    char **exit_command;
} opt = {.sync_fd = -1, .attach_fd = -1};

static int log_fd = -1;
static struct client { int fd, reading; } clients[MAX_CLIENTS];
static int n_clients;

/* The container's stdin, written without blocking: what it has not taken yet waits here, and no
 * client is read meanwhile, so a container that reads slowly slows its clients down instead of
 * stalling the monitor (and with it the container's output). */
static struct {
    int fd, close_when_flushed;
    size_t len, off;
    char buf[CHUNK];
} in = {.fd = -1};

static void close_stdin(void) {
    if (in.fd >= 0 && !opt.terminal) /* a pty's master is also the output: it stays */
        close(in.fd);
    in.fd = -1;
    in.len = in.off = 0;
}

static void flush_stdin(void) {
    while (in.off < in.len) {
        ssize_t w = write(in.fd, in.buf + in.off, in.len - in.off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            return;
        if (w < 0) { /* the container closed its stdin: what remains has nowhere to go */
            close_stdin();
            return;
        }
        in.off += (size_t)w;
    }
    in.len = in.off = 0;
    if (in.close_when_flushed)
        close_stdin();
}

static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("berth-monitor: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (opt.sync_fd >= 0)
        dprintf(opt.sync_fd, "-1 0\n");
    exit(1);
}

static void parse_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            opt.exit_command = argv[i + 1] ? &argv[i + 1] : NULL;
            break;
        }
        if (!strcmp(a, "--terminal")) { opt.terminal = 1; continue; }
        if (!strcmp(a, "--stdin")) { opt.stdin_open = 1; continue; }
        if (i + 1 >= argc)
            fail("%s needs a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--runtime")) opt.runtime = v;
        else if (!strcmp(a, "--runtime-arg")) {
            if (opt.n_runtime_args == MAX_ARGS) fail("too many --runtime-arg");
            opt.runtime_args[opt.n_runtime_args++] = v;
        }
        else if (!strcmp(a, "--id")) opt.id = v;
        else if (!strcmp(a, "--bundle")) opt.bundle = v;
        else if (!strcmp(a, "--pid-file")) opt.pid_file = v;
        else if (!strcmp(a, "--exit-file")) opt.exit_file = v;
        else if (!strcmp(a, "--log")) opt.log = v;
        else if (!strcmp(a, "--exit-lock")) opt.exit_lock = v;
        else if (!strcmp(a, "--sync-fd")) opt.sync_fd = atoi(v);
        else if (!strcmp(a, "--attach-fd")) opt.attach_fd = atoi(v);
        else fail("unknown option %s", a);
    }
    if (!opt.runtime || !opt.id || !opt.bundle || !opt.pid_file || !opt.exit_file || !opt.log)
        fail("missing a required option");
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A unix socket address for DIRFD/NAME; through /proc when the full path is too long for sun_path. */
static socklen_t socket_address(struct sockaddr_un *addr, int dirfd, const char *name) {
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    int n = snprintf(addr->sun_path, sizeof addr->sun_path, "%s/%s", opt.bundle, name);
    if (n < 0 || (size_t)n >= sizeof addr->sun_path)
        snprintf(addr->sun_path, sizeof addr->sun_path, "/proc/%d/fd/%d/%s", getpid(), dirfd, name);
    return sizeof *addr;
}

static int listen_at(int dirfd, const char *name, struct sockaddr_un *addr) {
    int s = socket(AF_UNIX, (strcmp(name, "attach") ? SOCK_STREAM : SOCK_SEQPACKET) | SOCK_CLOEXEC, 0);
    if (s < 0)
        fail("socket: %s", strerror(errno));
    unlinkat(dirfd, name, 0);
    socklen_t len = socket_address(addr, dirfd, name);
    if (bind(s, (struct sockaddr *)addr, len) < 0 || listen(s, 16) < 0)
        fail("cannot listen on %s/%s: %s", opt.bundle, name, strerror(errno));
    return s;
}

/* The pty master that the runtime sends over the console socket (SCM_RIGHTS). */
static int receive_console(int listener) {
    int conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0)
        return -1;
    char name[256];
    struct iovec iov = {.iov_base = name, .iov_len = sizeof name};
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    int fd = -1;
    if (recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) > 0) {
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(&fd, CMSG_DATA(c), sizeof fd);
    }
    close(conn);
    return fd;
}

static void add_client(int fd) {
    if (n_clients == MAX_CLIENTS) {
        close(fd);
        return;
    }
    /* a client that stops reading holds the output back, but not forever */
    struct timeval limit = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    clients[n_clients++] = (struct client){.fd = fd, .reading = 1};
}

static void drop_client(int i) {
    close(clients[i].fd);
    clients[i] = clients[--n_clients];
}

/* k8s-file: "<RFC3339Nano> <stdout|stderr> <F|P> <text>\n", P for a line without its newline yet. */
static void log_output(int stream, const char *data, size_t n) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    localtime_r(&now.tv_sec, &tm);
    char ts[64], zone[8];
    size_t len = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    strftime(zone, sizeof zone, "%z", &tm); /* +hhmm; RFC 3339 wants +hh:mm */
    snprintf(ts + len, sizeof ts - len, ".%09ld%.3s:%s", now.tv_nsec, zone, zone + 3);
    const char *name = stream == STDERR_STREAM ? "stderr" : "stdout";
    char out[2 * CHUNK];
    size_t o = 0;
    while (n) {
        const char *nl = memchr(data, '\n', n);
        size_t line = nl ? (size_t)(nl - data) : n;
        if (o + 128 + line > sizeof out) { /* many short lines: flush before the buffer fills */
            write_all(log_fd, out, o);
            o = 0;
        }
        o += (size_t)snprintf(out + o, sizeof out - o, "%s %s %c ", ts, name, nl ? 'F' : 'P');
        memcpy(out + o, data, line);
        o += line;
        out[o++] = '\n';
        size_t used = line + (nl ? 1 : 0);
        data += used;
        n -= used;
    }
    write_all(log_fd, out, o);
}

static void forward_output(int stream, const char *data, size_t n) {
    log_output(stream, data, n);
    char msg[CHUNK + 1];
    msg[0] = (char)stream;
    memcpy(msg + 1, data, n);
    for (int i = 0; i < n_clients;) {
        if (send(clients[i].fd, msg, n + 1, MSG_NOSIGNAL) < 0 && errno != EINTR)
            drop_client(i);
        else
            i++;
    }
}

static void resize(int ctl_fd, int master) {
    char buf[256];
    ssize_t n = read(ctl_fd, buf, sizeof buf - 1);
    if (n <= 0 || master < 0)
        return;
    buf[n] = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        int kind, rows, cols;
        if (sscanf(line, "%d %d %d", &kind, &rows, &cols) == 3 && kind == 1) {
            struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
            ioctl(master, TIOCSWINSZ, &ws);
        }
    }
}

static void write_exit_file(int code) {
    char tmp[4096], text[16];
    snprintf(tmp, sizeof tmp, "%s.tmp", opt.exit_file);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    int n = snprintf(text, sizeof text, "%d", code);
    write_all(fd, text, (size_t)n);
    fsync(fd);
    close(fd);
    rename(tmp, opt.exit_file);
}

static pid_t spawn_runtime(int in, int out, int err, const char *console) {
    const char *argv[MAX_ARGS + 16];
    int n = 0;
    argv[n++] = opt.runtime;
    for (int i = 0; i < opt.n_runtime_args; i++)
        argv[n++] = opt.runtime_args[i];
    argv[n++] = "run";
    argv[n++] = "--detach";
    argv[n++] = "--bundle";
    argv[n++] = opt.bundle;
    argv[n++] = "--pid-file";
    argv[n++] = opt.pid_file;
    if (console) {
        argv[n++] = "--console-socket";
        argv[n++] = console;
    }
    argv[n++] = opt.id;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execv(opt.runtime, (char **)argv);
        _exit(127);
    }
    return pid;
}

static int read_pid_file(void) {
    char buf[32] = {0};
    int fd = open(opt.pid_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 ? atoi(buf) : -1;
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    if (opt.sync_fd < 0 || fcntl(opt.sync_fd, F_SETFD, FD_CLOEXEC) < 0)
        fail("--sync-fd is missing or not open");

    /* daemonize: berth reaps this first process; the monitor lives on in a session of its own */
    pid_t first = fork();
    if (first < 0)
        fail("fork: %s", strerror(errno));
    if (first > 0)
        _exit(0);
    setsid();
    if (chdir(opt.bundle) < 0) /* not wherever berth ran: that could be a mount to keep free */
        fail("chdir %s: %s", opt.bundle, strerror(errno));
    prctl(PR_SET_CHILD_SUBREAPER, 1); /* the container's init is reparented to us once runc exits */
    signal(SIGPIPE, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sig_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    log_fd = open(opt.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (sig_fd < 0 || null_fd < 0 || log_fd < 0)
        fail("cannot open the log %s: %s", opt.log, strerror(errno));

    int dir_fd = open(opt.bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        fail("open %s: %s", opt.bundle, strerror(errno));
    struct sockaddr_un attach_addr, console_addr;
    int attach_listener = listen_at(dir_fd, "attach", &attach_addr);
    if (opt.attach_fd >= 0) {
        fcntl(opt.attach_fd, F_SETFD, FD_CLOEXEC);
        add_client(opt.attach_fd);
    }

    unlinkat(dir_fd, "ctl", 0);
    int ctl_fd = -1;
    if (mkfifoat(dir_fd, "ctl", 0600) == 0)
        ctl_fd = openat(dir_fd, "ctl", O_RDWR | O_NONBLOCK | O_CLOEXEC); /* O_RDWR: never reads EOF */

    /* the container's stdio: fds[0] stdout (or the pty master), fds[1] stderr, in.fd its stdin */
    int fds[2] = {-1, -1}, master = -1;
    pid_t runtime;
    if (opt.terminal) {
        int console = listen_at(dir_fd, "console", &console_addr);
        runtime = spawn_runtime(null_fd, null_fd, null_fd, console_addr.sun_path);
        /* the runtime sends the master before it exits; when it fails instead, stop waiting */
        struct pollfd p[2] = {{.fd = console, .events = POLLIN}, {.fd = sig_fd, .events = POLLIN}};
        while (master < 0 && poll(p, 2, -1) >= 0) {
            if (p[0].revents)
                master = receive_console(console);
            siginfo_t info = {0};
            if (p[1].revents && waitid(P_PID, (id_t)runtime, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid)
                break;
        }
        close(console);
        unlinkat(dir_fd, "console", 0);
        fds[0] = master;
        in.fd = opt.stdin_open ? master : -1;
    } else {
        int out[2], err[2], input[2] = {null_fd, -1};
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || (opt.stdin_open && pipe2(input, O_CLOEXEC) < 0))
            fail("pipe: %s", strerror(errno));
        runtime = spawn_runtime(input[0], out[1], err[1], NULL);
        close(out[1]);
        close(err[1]);
        if (opt.stdin_open)
            close(input[0]);
        fds[0] = out[0];
        fds[1] = err[0];
        in.fd = input[1];
    }
    int status;
    while (waitpid(runtime, &status, 0) < 0 && errno == EINTR)
        ;
    int container = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? read_pid_file() : -1;
    if (container <= 0) {
        dprintf(opt.sync_fd, "-1 %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        unlinkat(dir_fd, "attach", 0);
        return 1;
    }
    if (in.fd >= 0)
        fcntl(in.fd, F_SETFL, fcntl(in.fd, F_GETFL) | O_NONBLOCK);
    dprintf(opt.sync_fd, "%d %d\n", container, getpid());
    close(opt.sync_fd);
    for (int fd = 0; fd < 3; fd++) /* berth reads our stderr until the sync line; then let it go */
        dup2(null_fd, fd);

    /* relay until the container has exited and its output has ended */
    int exited = 0, code = -1;
    char buf[CHUNK];
    while (!exited || fds[0] >= 0 || fds[1] >= 0) {
        struct pollfd p[6 + MAX_CLIENTS];
        int n = 0;
        p[n++] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
        p[n++] = (struct pollfd){.fd = attach_listener, .events = POLLIN};
        p[n++] = (struct pollfd){.fd = ctl_fd, .events = POLLIN};
        p[n++] = (struct pollfd){.fd = fds[0], .events = POLLIN};
        p[n++] = (struct pollfd){.fd = fds[1], .events = POLLIN};
        p[n++] = (struct pollfd){.fd = in.len ? in.fd : -1, .events = POLLOUT};
        for (int i = 0; i < n_clients; i++)
            p[n++] = (struct pollfd){.fd = clients[i].fd, .events = clients[i].reading && !in.len ? POLLIN : 0};
        /* once the container is gone, whatever still holds its output gets a moment, not forever */
        int ready = poll(p, (nfds_t)n, exited ? 1000 : -1);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            break;
        if (p[0].revents) {
            struct signalfd_siginfo si;
            while (read(sig_fd, &si, sizeof si) > 0)
                ;
            pid_t pid;
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
                if (pid == container) {
                    exited = 1;
                    code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                }
        }
        if (p[1].revents) {
            int c = accept4(attach_listener, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0)
                add_client(c);
        }
        if (p[2].revents)
            resize(ctl_fd, master);
        for (int s = 0; s < 2; s++) {
            if (!p[3 + s].revents)
                continue;
            ssize_t r = read(fds[s], buf, sizeof buf);
            if (r > 0)
                forward_output(s ? STDERR_STREAM : STDOUT_STREAM, buf, (size_t)r);
            else if (r == 0 || (errno != EINTR && errno != EAGAIN)) { /* EIO: the pty's last user left */
                if (fds[s] != in.fd)
                    close(fds[s]);
                fds[s] = -1;
            }
        }
        if (p[5].revents)
            flush_stdin();
        /* clients: their data is the container's stdin; their end of input closes it */
        for (int i = n_clients - 1; i >= 0; i--) {
            short ev = p[6 + i].revents;
            if (!ev || p[6 + i].fd != clients[i].fd)
                continue;  /* nothing, or the client list changed under this poll */
            if ((ev & POLLIN) && in.len)
                continue;  /* another client's input is still on its way: this one waits */
            ssize_t r = (ev & POLLIN) ? recv(clients[i].fd, in.buf, sizeof in.buf, 0) : 0;
            if (r > 0) {
                if (in.fd >= 0) {
                    in.len = (size_t)r;
                    flush_stdin();
                }
            } else if (r == 0 && (ev & POLLIN)) {
                clients[i].reading = 0;
                if (!opt.terminal) { /* a client's end of input is the container's (docker -i) */
                    in.close_when_flushed = 1;
                    if (!in.len)
                        close_stdin();
                }
            } else if (r < 0 ? errno != EINTR && errno != EAGAIN : (ev & (POLLHUP | POLLERR)) != 0) {
                drop_client(i);
            }
        }
    }
    if (!exited) { /* the output ended without an exit: wait for it */
        while (waitpid(container, &status, 0) < 0 && errno == EINTR)
            ;
        code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

    /* the exit file first, then end the clients' streams: a client that sees EOF finds the code */
    write_exit_file(code);
    unlinkat(dir_fd, "attach", 0);
    for (int i = 0; i < n_clients; i++)
        close(clients[i].fd);
    unlinkat(dir_fd, "ctl", 0);
    if (!opt.exit_command)
        return 0;
    if (opt.exit_lock) {
        int lock = open(opt.exit_lock, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
        if (lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK)
            return 0;
        if (lock >= 0)
            close(lock); /* the exit command takes the lock itself */
    }
    dup2(null_fd, 0);
    dup2(null_fd, 1);
    dup2(null_fd, 2);
    sigprocmask(SIG_UNBLOCK, &chld, NULL);
    signal(SIGPIPE, SIG_DFL);
    execv(opt.exit_command[0], opt.exit_command);
    return 127;
}
