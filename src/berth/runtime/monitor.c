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
 *   the runtime failed (the runtime's own log says why). Of the fds it inherits, it keeps only the
 *   sync and attach fds.
 *   Attach socket: SOCK_SEQPACKET at BUNDLE/attach. Each output message is one byte naming
 *   the stream (2 stdout, 3 stderr) and the data; stream 4 is a last message from the monitor
 *   itself (why it detached this client), before the end of the stream. What a client sends goes
 *   to the container's stdin; once that is closed the monitor shuts down its reading side, and a
 *   client's send fails with EPIPE.
 *   --attach-fd is the foreground client (`berth run`), connected before the container starts so
 *   that it misses no output. The container's output waits for it (flow control, as docker's),
 *   and with --stdin its end of input (shutdown(SHUT_WR), or its going away) closes the container's
 *   stdin (docker's StdinOnce). Other clients never close the container's stdin; one that falls
 *   BEHIND_LIMIT bytes behind the output is detached with a notice.
 *   BUNDLE/ctl: a fifo of "1 ROWS COLS\n" lines, terminal resizes.
 *   Exit file: the exit code (128+N for signal N), written atomically once the output has ended
 *   (through BUNDLE/exit.tmp, made at start-up: a full disk at the end does not lose the code).
 *   The exit command runs last, unless another process holds the --exit-lock file locked (flock):
 *   a client in the foreground that handles the exit itself.
 */
#define _GNU_SOURCE
#include <dirent.h>
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
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 32768 /* attach messages carry at most this much data (berth reads CHUNK + 1) */
#define MAX_ARGS 64
/* A client other than the foreground one may fall this far behind before it is detached: the
 * output must not wait for an `attach` left in a stopped terminal (the container, its log and
 * the foreground client would all stall), and the monitor must not hold unbounded output. */
#define BEHIND_LIMIT ((size_t)4 << 20)

enum { STDOUT_STREAM = 2, STDERR_STREAM = 3, NOTICE_STREAM = 4 };

static struct {
    const char *runtime, *id, *bundle, *pid_file, *exit_file, *log, *exit_lock;
    const char *runtime_args[MAX_ARGS];
    int n_runtime_args, sync_fd, attach_fd, terminal, stdin_open;
    char **exit_command;
} opt = {.sync_fd = -1, .attach_fd = -1};

static int log_fd = -1, exit_fd = -1;

/* What the steps of main() share, from the bundle's files to how the container ended. */
static struct {
    int dir_fd, null_fd, sig_fd; /* the bundle; /dev/null; SIGCHLD, read through a signalfd */
    int attach_listener, ctl_fd;
    int out[2];                  /* the container's stdout (or the pty master) and stderr; -1 once ended */
    int master;                  /* the pty master, while it lasts */
    pid_t runtime, container;
    int exited, code, exit_written;
    sigset_t chld;
} mon = {.dir_fd = -1, .null_fd = -1, .sig_fd = -1, .ctl_fd = -1, .out = {-1, -1}, .master = -1, .code = -1};

/* Output a client's socket could not take yet, in order, one attach message each. */
struct msg {
    struct msg *next;
    size_t len;
    char data[];
};

static struct client {
    int fd;            /* -1 once closed; the entry goes at the top of the next loop */
    int reading;       /* what it sends is the container's stdin */
    int foreground;    /* --attach-fd: the output waits for it, it is never detached */
    int stdin_once;    /* its end of input is the container's (the foreground client of -i) */
    int leaving;       /* too far behind: only the notice still goes to it */
    size_t queued;
    struct msg *head, *tail;
} *clients;
static int n_clients, cap_clients, accepting = 1;

/* The container's stdin, written without blocking: what it has not taken yet waits here, and no
 * client is read meanwhile, so a container that reads slowly slows its clients down instead of
 * stalling the monitor (and with it the container's output). */
static struct {
    int fd, close_when_flushed, done;
    size_t len, off;
    char buf[CHUNK];
} in = {.fd = -1};

/* Discards what a client sent and nobody read: closing a unix socket with unread data resets the
 * connection, and the client's next recv fails before it has read the output still on its way. */
static void discard_input(int fd) {
    char sink[4096]; /* SEQPACKET: the rest of a longer message goes with it */
    while (recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0)
        ;
}

/* The container takes no more input: the client's next send fails (EPIPE) instead of queueing. */
static void refuse_input(struct client *c) {
    c->reading = 0;
    shutdown(c->fd, SHUT_RD);
    discard_input(c->fd);
}

static void close_stdin(void) {
    if (in.fd >= 0 && !opt.terminal) /* a pty's master is also the output: it stays */
        close(in.fd);
    in.fd = -1;
    in.len = in.off = 0;
    in.done = 1;
    for (int i = 0; i < n_clients; i++)
        if (clients[i].fd >= 0 && clients[i].reading)
            refuse_input(&clients[i]);
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

static void input_ended(struct client *c) {
    c->reading = 0;
    if (c->stdin_once && !opt.terminal && !in.done) { /* docker's StdinOnce; a pty has no EOF to pass */
        in.close_when_flushed = 1;
        if (!in.len)
            close_stdin();
    }
}

static void discard_queue(struct client *c) {
    for (struct msg *m = c->head, *next; m; m = next) {
        next = m->next;
        free(m);
    }
    c->head = c->tail = NULL;
    c->queued = 0;
}

/* Ends a connection cleanly: the client reads what was sent, then the end of the stream. */
static void close_client(struct client *c) {
    if (c->fd < 0)
        return;
    if (c->reading)
        input_ended(c);
    shutdown(c->fd, SHUT_RDWR); /* from here the client cannot send more: the discard is final */
    discard_input(c->fd);
    close(c->fd);
    c->fd = -1;
    discard_queue(c);
    accepting = 1; /* an fd is free again */
}

static int enqueue(struct client *c, const char *data, size_t n) {
    struct msg *m = malloc(sizeof *m + n);
    if (!m)
        return -1;
    m->next = NULL;
    m->len = n;
    memcpy(m->data, data, n);
    if (c->tail)
        c->tail->next = m;
    else
        c->head = m;
    c->tail = m;
    c->queued += n;
    return 0;
}

/* -1: the client is gone. A message goes whole or not at all (SEQPACKET). */
static int flush_client(struct client *c) {
    while (c->head) {
        struct msg *m = c->head;
        if (send(c->fd, m->data, m->len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        if (!(c->head = m->next))
            c->tail = NULL;
        c->queued -= m->len;
        free(m);
    }
    return 0;
}

static int send_message(struct client *c, const char *data, size_t n) {
    if (!c->head) {
        if (send(c->fd, data, n, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
            return 0;
        if (errno != EAGAIN && errno != EINTR)
            return -1;
    }
    return enqueue(c, data, n);
}

static void detach_slow_client(struct client *c) {
    static const char notice[] = "\4this client fell more than 4 MiB behind the container's output "
                                 "and was detached (the container's log has all of it)";
    discard_queue(c);
    if (c->reading)
        refuse_input(c);
    c->leaving = 1;
    if (enqueue(c, notice, sizeof notice - 1) < 0)
        close_client(c);
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

static void close_fds(unsigned lo, unsigned hi) {
    if (lo > hi)
        return;
#ifdef SYS_close_range
    if (syscall(SYS_close_range, lo, hi, 0) == 0)
        return;
#endif
    DIR *d = opendir("/proc/self/fd"); /* kernels before 5.9 */
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        int fd = atoi(e->d_name);
        if (fd >= (int)lo && (unsigned)fd <= hi && fd != dirfd(d))
            close(fd);
    }
    closedir(d);
}

/* Of the fds inherited, only the ones berth passes on purpose stay: anything else (a caller's
 * pipe, say) would stay open for the container's whole life, and go on to the exit command. */
static void close_inherited_fds(void) {
    int keep[2] = {opt.sync_fd, opt.attach_fd};
    if (keep[0] > keep[1]) {
        int t = keep[0];
        keep[0] = keep[1];
        keep[1] = t;
    }
    unsigned from = 3;
    for (int i = 0; i < 2; i++) {
        if (keep[i] < (int)from)
            continue;
        close_fds(from, (unsigned)keep[i] - 1);
        from = (unsigned)keep[i] + 1;
    }
    close_fds(from, ~0U);
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

/* poll slots before the clients' */
enum { P_SIG, P_LISTEN, P_CTL, P_OUT, P_ERR, P_STDIN, P_CLIENTS };
static struct pollfd *pfds;

static void add_client(int fd, int foreground) {
    if (n_clients == cap_clients) {
        int cap = cap_clients ? 2 * cap_clients : 4;
        struct client *c = realloc(clients, (size_t)cap * sizeof *c);
        if (c)
            clients = c;
        struct pollfd *p = c ? realloc(pfds, (size_t)(P_CLIENTS + cap) * sizeof *p) : NULL;
        if (!p) {
            close(fd);
            return;
        }
        pfds = p;
        cap_clients = cap;
    }
    struct client *c = &clients[n_clients++];
    *c = (struct client){.fd = fd, .reading = 1, .foreground = foreground,
                         .stdin_once = foreground && opt.stdin_open};
    if (in.done)
        refuse_input(c);
}

/* A write that fails (a full disk) is taken back whole: no half record for the next to follow. */
static void log_write(const char *p, size_t n) {
    off_t end = lseek(log_fd, 0, SEEK_END);
    if (write_all(log_fd, p, n) < 0 && end >= 0 && ftruncate(log_fd, end) < 0)
        return; /* nothing more to try */
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
            log_write(out, o);
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
    log_write(out, o);
}

static void forward_output(int stream, const char *data, size_t n) {
    log_output(stream, data, n);
    char msg[CHUNK + 1];
    msg[0] = (char)stream;
    memcpy(msg + 1, data, n);
    for (int i = 0; i < n_clients; i++) {
        struct client *c = &clients[i];
        if (c->fd < 0 || c->leaving)
            continue;
        if (send_message(c, msg, n + 1) < 0)
            close_client(c);
        else if (!c->foreground && c->queued > BEHIND_LIMIT)
            detach_slow_client(c);
    }
}

/* Resizes from the ctl fifo; a line split across reads waits for its end. */
static void resize(int ctl_fd, int master) {
    static char buf[256];
    static size_t len;
    ssize_t n = read(ctl_fd, buf + len, sizeof buf - 1 - len);
    if (n <= 0)
        return;
    len += (size_t)n;
    char *line = buf, *nl;
    while ((nl = memchr(line, '\n', len - (size_t)(line - buf)))) {
        *nl = 0;
        int kind, rows, cols;
        if (master >= 0 && sscanf(line, "%d %d %d", &kind, &rows, &cols) == 3 && kind == 1) {
            struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
            ioctl(master, TIOCSWINSZ, &ws);
        }
        line = nl + 1;
    }
    len -= (size_t)(line - buf);
    memmove(buf, line, len);
    if (len == sizeof buf - 1) /* no resize line is this long */
        len = 0;
}

/* Made at start-up, while there is room: the code has to fit whatever the disk is like at the end. */
static void prepare_exit_file(int dir_fd) {
    char room[16];
    memset(room, '\n', sizeof room); /* berth strips the padding */
    exit_fd = openat(dir_fd, "exit.tmp", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (exit_fd >= 0 && write(exit_fd, room, sizeof room) != (ssize_t)sizeof room) {
        close(exit_fd);
        exit_fd = -1; /* write_exit_file tries again at the end */
    }
}

static void write_exit_file(int dir_fd, int code) {
    char text[16];
    int n = snprintf(text, sizeof text, "%d", code);
    if (exit_fd >= 0) {
        int ok = pwrite(exit_fd, text, (size_t)n, 0) == n && ftruncate(exit_fd, n) == 0 && fsync(exit_fd) == 0;
        close(exit_fd);
        exit_fd = -1;
        if (ok && renameat(dir_fd, "exit.tmp", AT_FDCWD, opt.exit_file) == 0)
            return;
    }
    unlinkat(dir_fd, "exit.tmp", 0);
    /* no room made at start-up, or another filesystem than the bundle's: straight to its directory */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", opt.exit_file);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    int ok = write_all(fd, text, (size_t)n) == 0 && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, opt.exit_file) < 0)
        unlink(tmp); /* an empty exit file would read as "no code" anyway */
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
    if (pid < 0) /* no runtime to wait for (the console wait would never end) */
        fail("fork: %s", strerror(errno));
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

static int exit_code(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Reaps every child that ended (the container's init is ours once the runtime exits). */
static void reap(void) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        if (pid == mon.container) {
            mon.exited = 1;
            mon.code = exit_code(status);
        }
}

/* Reads the pending SIGCHLDs: poll would report them again at once. */
static void drain_signals(void) {
    struct signalfd_siginfo si;
    while (read(mon.sig_fd, &si, sizeof si) > 0)
        ;
}

static int foreground_behind(void) {
    for (int i = 0; i < n_clients; i++)
        if (clients[i].fd >= 0 && clients[i].foreground && clients[i].head)
            return 1;
    return 0;
}

static int output_queued(void) {
    for (int i = 0; i < n_clients; i++)
        if (clients[i].fd >= 0 && clients[i].head)
            return 1;
    return 0;
}

static void serve_client(struct client *c, short ev) {
    if (c->fd < 0 || !ev) /* gone meanwhile, or nothing */
        return;
    if ((ev & POLLOUT) && flush_client(c) < 0) {
        close_client(c);
        return;
    }
    if (c->leaving && !c->head) { /* the notice went out */
        close_client(c);
        return;
    }
    if (ev & POLLIN) {
        if (in.len)
            return; /* another client's input is still on its way: this one waits */
        ssize_t r = recv(c->fd, in.buf, sizeof in.buf, MSG_DONTWAIT);
        if (r > 0) {
            if (in.fd >= 0) {
                in.len = (size_t)r;
                flush_stdin();
            }
        } else if (r == 0) {
            input_ended(c);
        } else if (errno != EAGAIN && errno != EINTR) {
            close_client(c);
        }
        return;
    }
    if (ev & (POLLHUP | POLLERR)) /* gone: both sides shut, or reset */
        close_client(c);
}

/* berth reaps this first process; the monitor lives on in a session of its own. */
static void daemonize(void) {
    pid_t first = fork();
    if (first < 0)
        fail("fork: %s", strerror(errno));
    if (first > 0)
        _exit(0);
    setsid();
    if (chdir(opt.bundle) < 0) /* not wherever berth ran: that could be a mount to keep free */
        fail("chdir %s: %s", opt.bundle, strerror(errno));
}

/* The log, /dev/null, SIGCHLD as an fd to poll, and the poll set's fixed slots. */
static void open_state(void) {
    prctl(PR_SET_CHILD_SUBREAPER, 1); /* the container's init is reparented to us once runc exits */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&mon.chld);
    sigaddset(&mon.chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mon.chld, NULL);
    mon.sig_fd = signalfd(-1, &mon.chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (mon.sig_fd < 0)
        fail("signalfd: %s", strerror(errno));
    mon.null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (mon.null_fd < 0)
        fail("open /dev/null: %s", strerror(errno));
    log_fd = open(opt.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0)
        fail("cannot open the log %s: %s", opt.log, strerror(errno));
    pfds = malloc(P_CLIENTS * sizeof *pfds);
    if (!pfds)
        fail("out of memory");
}

/* The bundle's files, all made before the container starts: exit.tmp, the attach socket (with the
 * foreground client already on it) and the ctl fifo. */
static void prepare_bundle(void) {
    mon.dir_fd = open(opt.bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (mon.dir_fd < 0)
        fail("open %s: %s", opt.bundle, strerror(errno));
    prepare_exit_file(mon.dir_fd);
    struct sockaddr_un addr;
    mon.attach_listener = listen_at(mon.dir_fd, "attach", &addr);
    in.done = !opt.stdin_open;
    if (opt.attach_fd >= 0) {
        fcntl(opt.attach_fd, F_SETFD, FD_CLOEXEC);
        fcntl(opt.attach_fd, F_SETFL, fcntl(opt.attach_fd, F_GETFL) | O_NONBLOCK); /* as accepted ones */
        add_client(opt.attach_fd, 1);
    }
    unlinkat(mon.dir_fd, "ctl", 0);
    if (mkfifoat(mon.dir_fd, "ctl", 0600) == 0)
        mon.ctl_fd = openat(mon.dir_fd, "ctl", O_RDWR | O_NONBLOCK | O_CLOEXEC); /* O_RDWR: never reads EOF */
}

/* The pty master, sent by the runtime before it exits; -1 when the runtime fails instead. */
static int wait_for_console(int console) {
    struct pollfd p[2] = {{.fd = console, .events = POLLIN}, {.fd = mon.sig_fd, .events = POLLIN}};
    int master = -1;
    while (master < 0) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].revents)
            master = receive_console(console);
        if (p[1].revents) {
            drain_signals(); /* reap() runs later */
            siginfo_t info = {0};
            if (waitid(P_PID, (id_t)mon.runtime, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid)
                break;
        }
    }
    return master;
}

/* The container's stdio is a pty: its master is both the output and, with --stdin, the input. */
static void start_with_terminal(void) {
    struct sockaddr_un addr;
    int console = listen_at(mon.dir_fd, "console", &addr);
    mon.runtime = spawn_runtime(mon.null_fd, mon.null_fd, mon.null_fd, addr.sun_path);
    mon.master = wait_for_console(console);
    close(console);
    unlinkat(mon.dir_fd, "console", 0);
    mon.out[0] = mon.master;
    in.fd = opt.stdin_open ? mon.master : -1;
}

/* The container's stdio is three pipes (stdin /dev/null without --stdin). */
static void start_with_pipes(void) {
    int out[2], err[2], input[2] = {mon.null_fd, -1};
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || (opt.stdin_open && pipe2(input, O_CLOEXEC) < 0))
        fail("pipe: %s", strerror(errno));
    mon.runtime = spawn_runtime(input[0], out[1], err[1], NULL);
    close(out[1]);
    close(err[1]);
    if (opt.stdin_open)
        close(input[0]);
    mon.out[0] = out[0];
    mon.out[1] = err[0];
    in.fd = input[1];
}

/* The sync line, once the runtime has exited: -1 when the container did not start. */
static int report_start(void) {
    int status;
    while (waitpid(mon.runtime, &status, 0) < 0 && errno == EINTR)
        ;
    mon.container = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? read_pid_file() : -1;
    if (mon.container <= 0) {
        dprintf(opt.sync_fd, "-1 %d\n", exit_code(status));
        unlinkat(mon.dir_fd, "attach", 0);
        unlinkat(mon.dir_fd, "exit.tmp", 0);
        return -1;
    }
    if (in.fd >= 0)
        fcntl(in.fd, F_SETFL, fcntl(in.fd, F_GETFL) | O_NONBLOCK);
    dprintf(opt.sync_fd, "%d %d\n", mon.container, getpid());
    close(opt.sync_fd);
    for (int fd = 0; fd < 3; fd++) /* berth reads our stderr until the sync line; then let it go */
        dup2(mon.null_fd, fd);
    return 0;
}

static void record_exit(void) {
    if (!mon.exit_written)
        write_exit_file(mon.dir_fd, mon.code);
    mon.exit_written = 1;
}

static void drop_closed_clients(void) {
    int n = 0;
    for (int i = 0; i < n_clients; i++)
        if (clients[i].fd >= 0)
            clients[n++] = clients[i];
    n_clients = n;
}

/* Flow control: the output waits while the foreground client has not taken the last of it
 * (the container blocks on a full pipe). Once the container is gone, what is left in the
 * pipes is read anyway, so that the exit is recorded, up to a bound. */
static int output_held(void) {
    for (int i = 0; i < n_clients; i++)
        if (clients[i].foreground)
            return clients[i].head && (!mon.exited || clients[i].queued > BEHIND_LIMIT);
    return 0;
}

/* Fills pfds for one poll: the fixed slots, then one per client. Returns how many are used. */
static nfds_t build_poll_set(void) {
    int held = output_held();
    pfds[P_SIG] = (struct pollfd){.fd = mon.sig_fd, .events = POLLIN};
    pfds[P_LISTEN] = (struct pollfd){.fd = accepting ? mon.attach_listener : -1, .events = POLLIN};
    pfds[P_CTL] = (struct pollfd){.fd = mon.ctl_fd, .events = POLLIN};
    pfds[P_OUT] = (struct pollfd){.fd = held ? -1 : mon.out[0], .events = POLLIN};
    pfds[P_ERR] = (struct pollfd){.fd = held ? -1 : mon.out[1], .events = POLLIN};
    pfds[P_STDIN] = (struct pollfd){.fd = in.len ? in.fd : -1, .events = POLLOUT};
    for (int i = 0; i < n_clients; i++)
        pfds[P_CLIENTS + i] = (struct pollfd){
            .fd = clients[i].fd,
            .events = (short)((clients[i].reading && !in.len ? POLLIN : 0) | (clients[i].head ? POLLOUT : 0))};
    return (nfds_t)(P_CLIENTS + n_clients);
}

/* What the container wrote goes to the log and the clients; an output that ends is closed. */
static void read_output(void) {
    char buf[CHUNK];
    for (int s = 0; s < 2; s++) {
        if (!pfds[P_OUT + s].revents)
            continue;
        ssize_t r = read(mon.out[s], buf, sizeof buf);
        if (r > 0) {
            forward_output(s ? STDERR_STREAM : STDOUT_STREAM, buf, (size_t)r);
        } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) { /* EIO: the pty's last user left */
            if (mon.out[s] == mon.master) { /* the pty is done with, its input side too */
                close_stdin();
                mon.master = -1;
            }
            close(mon.out[s]);
            mon.out[s] = -1;
        }
    }
}

static void accept_client(void) {
    int c = accept4(mon.attach_listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c >= 0)
        add_client(c, 0);
    else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
        accepting = 0; /* it waits in the backlog until a client leaves */
}

/* Serves what one poll reported; `polled` clients were in the poll set. */
static void serve_ready(int polled) {
    if (pfds[P_SIG].revents) {
        drain_signals();
        reap();
    }
    if (pfds[P_CTL].revents)
        resize(mon.ctl_fd, mon.master);
    read_output();
    if (pfds[P_STDIN].revents)
        flush_stdin();
    for (int i = polled - 1; i >= 0; i--)
        serve_client(&clients[i], pfds[P_CLIENTS + i].revents);
    if (pfds[P_LISTEN].revents) /* last: the client array may move */
        accept_client();
}

/* Relays until the container has exited, its output has ended and the clients have it all. */
static void relay(void) {
    reap(); /* its SIGCHLD may have been read while waiting for the console */
    for (;;) {
        drop_closed_clients();
        int output_open = mon.out[0] >= 0 || mon.out[1] >= 0;
        if (mon.exited && !output_open)
            record_exit(); /* before the clients see the end */
        if (mon.exited && !output_open && !output_queued())
            break;
        int polled = n_clients;
        nfds_t n = build_poll_set();
        /* once the container is gone, whatever still holds its output gets a moment, not forever;
         * so does a client other than the foreground one that has stopped reading */
        int ready = poll(pfds, n, mon.exited ? 1000 : -1);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0)
            break;
        if (ready == 0) {
            if (foreground_behind())
                continue; /* the foreground client gets all of the output, however long it takes */
            break;
        }
        serve_ready(polled);
    }
}

/* The exit file, then the end of the clients' streams. */
static void finish(void) {
    if (!mon.exited) { /* the output ended without an exit: wait for it */
        int status;
        pid_t r;
        while ((r = waitpid(mon.container, &status, 0)) < 0 && errno == EINTR)
            ;
        mon.code = r == mon.container ? exit_code(status) : -1;
    }
    record_exit();
    /* end the clients' streams after the exit file: a client that sees EOF finds the code */
    unlinkat(mon.dir_fd, "attach", 0);
    for (int i = 0; i < n_clients; i++)
        close_client(&clients[i]);
    unlinkat(mon.dir_fd, "ctl", 0);
}

/* Execs the exit command, unless there is none or a client in the foreground that handles the
 * exit itself holds the --exit-lock. Returns the monitor's status when it does not exec. */
static int run_exit_command(void) {
    if (!opt.exit_command)
        return 0;
    if (opt.exit_lock) {
        int lock = open(opt.exit_lock, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
        if (lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK)
            return 0;
        if (lock >= 0)
            close(lock); /* the exit command takes the lock itself */
    }
    dup2(mon.null_fd, 0);
    dup2(mon.null_fd, 1);
    dup2(mon.null_fd, 2);
    sigprocmask(SIG_UNBLOCK, &mon.chld, NULL);
    signal(SIGPIPE, SIG_DFL);
    prctl(PR_SET_CHILD_SUBREAPER, 0); /* the exit command's orphans are not its to reap */
    execv(opt.exit_command[0], opt.exit_command);
    return 127;
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    close_inherited_fds();
    if (opt.sync_fd < 0 || fcntl(opt.sync_fd, F_SETFD, FD_CLOEXEC) < 0)
        fail("--sync-fd is missing or not open");
    daemonize();
    open_state();
    prepare_bundle();
    if (opt.terminal)
        start_with_terminal();
    else
        start_with_pipes();
    if (report_start() < 0)
        return 1;
    relay();
    finish();
    return run_exit_command();
}
