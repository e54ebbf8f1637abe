/**
 * The slot program in C (slotProgram.ts compiles it once a machine when there is a `cc`): the
 * same arguments, requests, reports and records as the Perl one (slotScript.ts, whose comment
 * describes them), and the same behaviour, but each attempt is started with posix_spawn, which
 * glibc and macOS do without copying the slot's page tables (a vfork), from a process a tenth of
 * Perl's size. That is what made a slot slower than xargs, which forks.
 *
 * Two differences, both fewer wake-ups of the runner (a wake-up a report cost a run of small items
 * more than a tenth of its time on 2 cores, even with a runner that did nothing else):
 * - when the shell and its output end together with its group empty (the usual end), its "Q"
 *   report goes out with its "X", in one write;
 * - reports are held, in order, and written together: at most REPORT_MS after the first of them,
 *   before the slot waits for its next request or for a shell that closed its output, when half
 *   of the requests that waited as the reports began to be held have started (the runner then
 *   sends more while the other half runs), and at once for what the runner must act on (a
 *   failure, a decline, a log or spawn error). A step's end too is held: it is synced before
 *   anything queued behind it starts, and the runner sends a chain's steps far enough ahead
 *   (stepQueue.ts). The records are written as before, at once: a successor reads those, and so
 *   does the runner when a slot dies before it told. Since an attempt's start may be heard with
 *   its end, its "X" carries both times, by this clock.
 *
 * And a third: while an attempt runs, the shell of the request queued next is started, and waits
 * for the slot's word before anything of its command (start_ahead: docs/design.md, "A shell
 * started ahead"); starting a shell was most of a trivial step.
 *
 * And a fourth: the records are the Perl slot's lines, but once the slot has synced an end they
 * are written over zeros it wrote ahead (record() below), and a reader stops at the first NUL.
 *
 * Portable C (POSIX, /proc where there is one), no library but libc. Each descriptor of the slot's
 * own is close-on-exec; the child gets /dev/null, the output pipe on 1 and 2, its own group and
 * the default signal handling, and nothing else.
 */
export const SLOT_C = String.raw`
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

extern char **environ;

static const char *records_path, *hold, *keep;
static long runner, grace_ms, drain_ms;
static int log_flags, rec = -1;
static volatile sig_atomic_t attempt_group = 0;
/* SIGUSR1 came: the held reports are wanted now. */
static volatile sig_atomic_t hurried = 0;

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The time of day in milliseconds, for the runner's timeline: an attempt's start and end. */
static long long wall_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(long ms) {
  struct timespec t = { ms / 1000, (ms % 1000) * 1000000 };
  while (nanosleep(&t, &t) < 0 && errno == EINTR) {}
}

/* The whole of it, or -1 (a write a line: records and reports are never torn by this slot). */
static int write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) { if (errno == EINTR) continue; return -1; }
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* A line of at most a few fields, built in one buffer so that it is one write. */
struct line { char *data; size_t len, cap; };
static void add(struct line *l, const char *s, size_t n) {
  if (l->len + n + 1 > l->cap) {
    l->cap = (l->len + n + 1) * 2;
    l->data = realloc(l->data, l->cap);
    if (!l->data) _exit(70);
  }
  memcpy(l->data + l->len, s, n);
  l->len += n;
}
static void adds(struct line *l, const char *s) { add(l, s, strlen(s)); }
static void addl(struct line *l, long v) { char b[32]; snprintf(b, sizeof b, "%ld", v); adds(l, b); }
static void addll(struct line *l, long long v) { char b[32]; snprintf(b, sizeof b, "%lld", v); adds(l, b); }
static struct line out_line;
static void begin(void) { out_line.len = 0; }

/* Reports held, in order, and since when (-1: none). */
#define REPORT_MS 50
static struct line held;
static long held_since = -1;
/* The requests that waited when the first attempt since the last write of the reports started (-1: none started since). */
static int held_waiting = -1;
static void flush_reports(void) {
  if (held.len) write_all(1, held.data, held.len);
  held.len = 0;
  held_since = -1;
  held_waiting = -1;
}
/* A step that prints fast fills it in far less than REPORT_MS: a pipe's worth goes at once. */
#define HELD_MAX 65536
static void hold_report(const char *data, size_t len) {
  add(&held, data, len);
  if (held_since < 0) held_since = now_ms();
  if (held.len >= HELD_MAX) flush_reports();
}
/* out_line, held; written at once when the runner must act on it (an end is the caller's to judge). */
static void report(void) {
  hold_report(out_line.data, out_line.len);
  char kind = out_line.data[0];
  if (kind != 'S' && kind != 'Q' && kind != 'X') flush_reports();
}
/* Another request is here already (or the runner has closed the requests). */
static int request_ready(void) {
  struct pollfd in = { 0, POLLIN, 0 };
  return poll(&in, 1, 0) > 0;
}
/* The held reports' time is up: written; else how long they may wait still (-1: none held). */
static int report_due(void) {
  if (held_since < 0) return -1;
  long left = held_since + REPORT_MS - now_ms();
  if (left > 0) return (int)left;
  flush_reports();
  return -1;
}
/* Records go where the last one ended, by pwrite (the file is not opened to append; the runner's
   "slot" line is there before the first request comes). Once an end was synced, zeros are written
   ahead while the next attempt runs: a line synced over them grows no file and changes no inode,
   so the sync writes its block alone (0.11-0.13 ms here, against 0.16-0.19 for an append).
   Readers stop at the first NUL. A slot that syncs nothing (items) writes at the file's end, as
   an append would; Slurm's elements run the Perl slot, which appends. */
static off_t rec_at = -1, rec_ahead;
static int rec_in_place;  /* a file; else (a FIFO) written to as it comes */
#define REC_AHEAD 65536
static int record(void) {
  if (rec < 0) return 0;
  if (rec_at < 0) {
    struct stat st;
    if (fstat(rec, &st) != 0) return 0;
    rec_in_place = S_ISREG(st.st_mode);
    rec_at = rec_ahead = st.st_size;
  }
  if (!rec_in_place) return write_all(rec, out_line.data, out_line.len) == 0;
  /* A line cut short is written over by the next one: what is left of it has no newline. */
  const char *data = out_line.data;
  size_t len = out_line.len;
  off_t at = rec_at;
  while (len > 0) {
    ssize_t n = pwrite(rec, data, len, at);
    if (n < 0) { if (errno == EINTR) continue; return 0; }
    data += n; len -= (size_t)n; at += n;
  }
  rec_at = at;
  return 1;
}
#if defined(_POSIX_SYNCHRONIZED_IO) && _POSIX_SYNCHRONIZED_IO > 0
#define sync_data fdatasync
#else
#define sync_data fsync
#endif
static int rec_synced;
static int sync_records(void) {
  if (sync_data(rec) != 0) return 0;
  rec_synced = 1;
  return 1;
}
/* Room ahead for the next steps' lines, if there is little left, once the slot syncs: written while
   an attempt runs, not between an end and what is queued behind it. */
static void records_ahead(void) {
  if (!rec_synced || !rec_in_place || rec_ahead - rec_at >= 4096) return;
  static const char zeros[REC_AHEAD];
  off_t from = rec_ahead > rec_at ? rec_ahead : rec_at;
  ssize_t n = pwrite(rec, zeros, sizeof zeros, from);
  if (n > 0) rec_ahead = from + n;  /* a full disk: the lines go on growing the file */
}

/* The environment of the next attempt: "NAME=value" strings, NULL at the end. */
static char **env;
static size_t env_n, env_cap;
static size_t name_len(const char *e) { const char *eq = strchr(e, '='); return eq ? (size_t)(eq - e) : strlen(e); }
static long env_find(const char *name, size_t n) {
  for (size_t i = 0; i < env_n; i++) if (name_len(env[i]) == n && memcmp(env[i], name, n) == 0) return (long)i;
  return -1;
}
static void env_set(const char *entry) {
  long i = env_find(entry, name_len(entry));
  char *copy = strdup(entry);
  if (!copy) _exit(70);
  if (i >= 0) { free(env[i]); env[i] = copy; return; }
  if (env_n + 2 > env_cap) {
    env_cap = (env_n + 2) * 2;
    env = realloc(env, env_cap * sizeof *env);
    if (!env) _exit(70);
  }
  env[env_n++] = copy;
  env[env_n] = NULL;
}
static void env_unset(const char *name) {
  long i = env_find(name, strlen(name));
  if (i < 0) return;
  free(env[i]);
  env[i] = env[--env_n];
  env[env_n] = NULL;
}

/* Form "=" replaces it (the kept prefix's variables stay the slot's), "+" changes it. */
static void environment(const char *form, char **entries, size_t n) {
  if (strcmp(form, "=") == 0) {
    char **old = env;
    size_t old_n = env_n;
    env = NULL; env_n = env_cap = 0;
    env_set("_=");  /* makes the array; removed below */
    env_unset("_");
    for (size_t i = 0; i < n; i++) if (strchr(entries[i], '=')) env_set(entries[i]);
    for (size_t i = 0; i < old_n; i++) {
      if (*keep && strncmp(old[i], keep, strlen(keep)) == 0) env_set(old[i]);
      free(old[i]);
    }
    free(old);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (strchr(entries[i], '=')) env_set(entries[i]);
    else env_unset(entries[i]);
  }
}

/* Requests on stdin, buffered: more of them, 0 at their end. */
static char inbuf[65536];
static size_t in_at, in_len;
/* What the runner has sent, as much as the buffer has room for, read without waiting. */
static void take_sent(void) {
  if (!request_ready()) return;
  if (in_at > 0) {
    memmove(inbuf, inbuf + in_at, in_len - in_at);
    in_len -= in_at;
    in_at = 0;
  }
  if (in_len == sizeof inbuf) return;
  ssize_t n;
  do n = read(0, inbuf + in_len, sizeof inbuf - in_len); while (n < 0 && errno == EINTR);
  if (n > 0) in_len += (size_t)n;
}
/* The requests sent and not started: those begun in the buffer (a long one's rest may be in the pipe still). */
static int requests_waiting(void) {
  take_sent();
  int n = 0;
  for (size_t i = in_at; i < in_len;) {
    size_t from = i;
    long len = 0;
    while (i < in_len && inbuf[i] >= '0' && inbuf[i] <= '9') len = len * 10 + (inbuf[i++] - '0');
    if (i == from || i >= in_len || inbuf[i] != '\n') break;
    n++;
    if ((size_t)len >= in_len - i) break;
    i += 1 + (size_t)len;
  }
  return n;
}
static int fill(void) {
  if (in_at < in_len) return 1;
  if (held.len && !request_ready()) flush_reports();  /* the runner hears all before the slot waits for it */
  ssize_t n;
  do n = read(0, inbuf, sizeof inbuf); while (n < 0 && errno == EINTR);
  if (n <= 0) return 0;
  in_at = 0;
  in_len = (size_t)n;
  return 1;
}

/* A member of the group that is not a zombie (a killed orphan stays one until init reaps it). */
static int group_alive(pid_t pgid) {
  if (kill(-pgid, 0) != 0) return 0;
  DIR *proc = opendir("/proc");
  if (!proc) return 1;
  struct dirent *d;
  int alive = 0;
  while (!alive && (d = readdir(proc))) {
    if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
    char path[300], stat[1024];
    snprintf(path, sizeof path, "/proc/%s/stat", d->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, stat, sizeof stat - 1);
    close(fd);
    if (n <= 0) continue;
    stat[n] = 0;
    char *paren = strrchr(stat, ')');
    char state;
    long ppid, pgrp;
    if (paren && sscanf(paren + 2, "%c %ld %ld", &state, &ppid, &pgrp) == 3 && pgrp == pgid && state != 'Z') alive = 1;
  }
  closedir(proc);
  return alive;
}

/* Whatever the shell left in its group goes with it: TERM, then KILL after the grace.
   -1 if it was gone at once, else the time it went. */
static long stop_group(pid_t pgid) {
  if (!group_alive(pgid)) return -1;
  flush_reports();
  long settle = now_ms() + 20;  /* what is leaving the group, or ending, goes by itself */
  while (group_alive(pgid) && now_ms() < settle) sleep_ms(2);
  if (!group_alive(pgid)) return now_ms();
  kill(-pgid, SIGTERM);
  long until = now_ms() + grace_ms;
  int killed = 0;
  while (group_alive(pgid)) {
    if (now_ms() > until) {
      if (killed) break;  /* zombies an init does not reap hold nothing */
      kill(-pgid, SIGKILL);
      killed = 1;
      until = now_ms() + 1000;
    }
    sleep_ms(10);
  }
  return now_ms();
}

/* It could not start: recorded as an end without a code, and reported. */
static int cannot_start(const char *key, const char *n, const char *what, const char *arg) {
  struct line why = { 0 };
  adds(&why, what); adds(&why, arg); adds(&why, ": "); adds(&why, strerror(errno));
  for (size_t i = 0; i < why.len; i++) if (why.data[i] == '\n') why.data[i] = ' ';
  begin(); adds(&out_line, "end\t"); adds(&out_line, key); adds(&out_line, "\t"); adds(&out_line, n);
  adds(&out_line, "\t\t\t"); addl(&out_line, (long)time(NULL)); adds(&out_line, "\tcould not start: ");
  add(&out_line, why.data, why.len); adds(&out_line, "\n");
  record();
  begin(); adds(&out_line, "F "); add(&out_line, why.data, why.len); adds(&out_line, "\n");
  report();
  free(why.data);
  return 0;
}

static int log_ok, log_fd;
static void log_error(void) {
  int e = errno;
  log_ok = 0;
  begin(); adds(&out_line, "L "); addl(&out_line, e); adds(&out_line, " "); adds(&out_line, strerror(e)); adds(&out_line, "\n");
  report();
}
static void log_write(const char *data, size_t len) {
  if (log_ok && write_all(log_fd, data, len) < 0) log_error();
}

static const char *prefix;
static int lines;
static struct line emitted;
static void emit(const char *s, size_t n) {
  if (n > 0 && s[n - 1] == '\r') n--;
  if (*prefix) {
    emitted.len = 0;
    adds(&emitted, prefix); add(&emitted, s, n); add(&emitted, "\n", 1);
    log_write(emitted.data, emitted.len);
  }
  if (lines) {
    emitted.len = 0;
    add(&emitted, "O ", 2); add(&emitted, s, n); add(&emitted, "\n", 1);
    hold_report(emitted.data, emitted.len);
  }
}

/* A whole line, cut as one that has not ended yet is: 4,096 bytes at most a line, however the reads fell. */
static void emit_line(const char *s, size_t n) {
  while (n > 4096) { emit(s, 4096); s += 4096; n -= 4096; }
  emit(s, n);
}

/* Each "<stamp> <path>" line still holds: the file is the same (inode, size, mtime), or still absent. */
static int unchanged(const char *gates) {
  static struct line path;
  while (*gates) {
    const char *nl = strchr(gates, '\n');
    size_t n = nl ? (size_t)(nl - gates) : strlen(gates);
    const char *space = memchr(gates, ' ', n);
    if (!space) return 0;
    size_t stamp_len = (size_t)(space - gates);
    path.len = 0;
    add(&path, space + 1, n - stamp_len - 1);
    path.data[path.len] = 0;
    char now[96];
    struct stat st;
    if (stat(path.data, &st) == 0) snprintf(now, sizeof now, "%llu:%lld:%lld", (unsigned long long)st.st_ino, (long long)st.st_size, (long long)st.st_mtime);
    else strcpy(now, "-");
    if (strlen(now) != stamp_len || memcmp(now, gates, stamp_len) != 0) return 0;
    gates += n;
    if (*gates) gates++;
  }
  return 1;
}

/* A log of an earlier run the runner retired, made this attempt's log: no new file, and none freed
   (creating one after thousands were freed costs ext4 without a journal 0.6-0.8 ms). Only a file
   that is plain, in no other place, and emptied first; else the log is made as usual. */
static void reuse_log(const char *reuse, const char *log) {
  if (!*reuse) return;
  int fd = open(reuse, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 && ftruncate(fd, 0) == 0 && link(reuse, log) == 0) unlink(reuse);
  close(fd);
}

/* /bin/sh -c script in its own group, with /dev/null, the output pipe on 1 and 2, the default
   signal handling, and nothing else of the slot's; the gate's read end, if any, on 9. 0 or an errno. */
static int spawn_shell(const char *script, int out, int gate, pid_t *pid) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  posix_spawn_file_actions_adddup2(&fa, out, 2);
  if (gate >= 0) posix_spawn_file_actions_adddup2(&fa, gate, 9);
  posix_spawnattr_init(&at);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setpgroup(&at, 0);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  char *argv[] = { "/bin/sh", "-c", (char *)script, NULL };
  int e = posix_spawn(pid, "/bin/sh", &fa, &at, argv, env);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (e == 0) setpgid(*pid, *pid);  /* here too: the group exists before the runner may signal it */
  return e;
}

/* A request: its payload, cut at its NULs into fields (at least the 14 of every request). */
struct request { struct line payload; char **fields; size_t n, cap; };
static void add_field(struct request *r, char *field) {
  if (r->n + 1 > r->cap) {
    r->cap = (r->n + 1) * 2;
    r->fields = realloc(r->fields, r->cap * sizeof *r->fields);
    if (!r->fields) _exit(70);
  }
  r->fields[r->n++] = field;
}
/* The next one, its environment changes applied (even to one declined: the next one's changes are
   from this one's environment); 0 at the requests' end or at one that is not a request. */
static int read_request(struct request *r) {
  long len = 0;
  int digits = 0;
  for (;;) {
    if (!fill()) return 0;
    char c = inbuf[in_at++];
    if (c == '\n') break;
    if (c < '0' || c > '9') return 0;
    len = len * 10 + (c - '0');
    digits++;
  }
  if (!digits) return 0;
  r->payload.len = 0;
  while ((long)r->payload.len < len) {
    if (!fill()) return 0;
    size_t take = in_len - in_at;
    if ((long)take > len - (long)r->payload.len) take = (size_t)(len - (long)r->payload.len);
    add(&r->payload, inbuf + in_at, take);
    in_at += take;
  }
  add(&r->payload, "", 1);  /* the last field's end */
  r->n = 0;
  for (size_t i = 0, from = 0; i <= (size_t)len; i++) {
    if (i == (size_t)len || r->payload.data[i] == 0) {
      r->payload.data[i] = 0;
      add_field(r, r->payload.data + from);
      from = i + 1;
    }
  }
  while (r->n < 14) add_field(r, "");  /* a request cut short: what is missing is empty */
  environment(r->fields[12], r->fields + 14, r->n - 14);
  return 1;
}
/* A whole request is in the buffer: it can be read without waiting for the runner. */
static int request_here(void) {
  size_t i = in_at;
  long len = 0;
  while (i < in_len && inbuf[i] >= '0' && inbuf[i] <= '9') len = len * 10 + (inbuf[i++] - '0');
  return i > in_at && i < in_len && inbuf[i] == '\n' && (long)(in_len - i - 1) >= len;
}

/* The shell of the request queued next, started while the one before runs: starting a shell is
   most of a trivial step (0.4-0.6 ms), so a chain's next step no longer starts one after the
   commit before it. It waits, before anything of its command, for the slot's word on 9, which
   comes only where a shell started then would start (the step before durably ended, its gates
   held, its folder the same one); else it is killed, having run nothing. A slot that dies closes
   the gate: the shell reads its end, and exits. */
#define GATE "read -r _ <&9 || exit 1; exec 9<&-; "
static struct { pid_t pid; int out, gate; dev_t dev; ino_t ino; } ahead;
static void start_ahead(struct request *r) {
  const char *cwd = r->fields[3], *command = r->fields[13];
  struct stat folder;
  if (chdir(cwd) != 0 || stat(".", &folder) != 0) return;  /* it is made by the step before, maybe */
  int p[2], g[2];
  if (pipe(p) != 0) return;
  if (pipe(g) != 0) { close(p[0]); close(p[1]); return; }
  /* Not on 9 itself, where the child's dup2 would keep it close-on-exec. */
  int gate = fcntl(g[0], F_DUPFD_CLOEXEC, 10);
  close(g[0]);
  fcntl(p[0], F_SETFD, FD_CLOEXEC);
  fcntl(p[1], F_SETFD, FD_CLOEXEC);
  fcntl(g[1], F_SETFD, FD_CLOEXEC);
  static struct line script;
  script.len = 0;
  adds(&script, GATE); adds(&script, command); add(&script, "", 1);
  pid_t pid;
  int e = gate < 0 ? EMFILE : spawn_shell(script.data, p[1], gate, &pid);
  close(p[1]);
  if (gate >= 0) close(gate);
  if (e != 0) { close(p[0]); close(g[1]); return; }
  ahead.pid = pid; ahead.out = p[0]; ahead.gate = g[1]; ahead.dev = folder.st_dev; ahead.ino = folder.st_ino;
}
/* Killed unheard (its group is itself: it ran nothing), and reaped. */
static void drop_ahead(void) {
  if (!ahead.pid) return;
  kill(-ahead.pid, SIGKILL);
  int status;
  while (waitpid(ahead.pid, &status, 0) < 0 && errno == EINTR) {}
  close(ahead.out);
  close(ahead.gate);
  ahead.pid = 0;
}
/* The shell started ahead goes on as this attempt's, if it is still there to read its word (not
   killed meanwhile, by a pkill of its words) and the folder is the same one. */
static int take_ahead(const char *cwd, pid_t *pid, int *out) {
  if (!ahead.pid) return 0;
  struct stat folder;
  int same = stat(cwd, &folder) == 0 && folder.st_dev == ahead.dev && folder.st_ino == ahead.ino;
  if (!same || write_all(ahead.gate, "\n", 1) < 0) { drop_ahead(); return 0; }
  close(ahead.gate);
  *pid = ahead.pid;
  *out = ahead.out;
  ahead.pid = 0;
  return 1;
}
static struct request requests[2], *next_request = &requests[1];
static int have_next;

static int run_attempt(char **f, const char *command) {
  const char *key = f[0], *n = f[1], *order = f[2], *cwd = f[3], *log = f[4], *header = f[5], *reuse = f[11];
  int durable = strcmp(f[9], "1") == 0;
  prefix = f[6];
  lines = strcmp(f[7], "1") == 0;
  begin(); adds(&out_line, "start\t"); adds(&out_line, key); adds(&out_line, "\t"); adds(&out_line, n); adds(&out_line, "\t");
  addl(&out_line, (long)getpid()); adds(&out_line, "\t"); adds(&out_line, order); adds(&out_line, "\n");
  record();
  int out;
  pid_t pid;
  if (!take_ahead(cwd, &pid, &out)) {
    /* The slot's own paths are absolute: it can stand in the attempt's folder. */
    if (chdir(cwd) != 0) return cannot_start(key, n, "chdir ", cwd);
    int p[2];
    if (pipe(p) != 0) return cannot_start(key, n, "pipe", "");
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    int e = spawn_shell(command, p[1], -1, &pid);
    close(p[1]);
    if (e != 0) { close(p[0]); errno = e; return cannot_start(key, n, "spawn /bin/sh", ""); }
    out = p[0];
  }
  attempt_group = pid;
  long long started_at = wall_ms();
  begin(); adds(&out_line, "group\t"); adds(&out_line, key); adds(&out_line, "\t"); adds(&out_line, n); adds(&out_line, "\t"); addl(&out_line, pid); adds(&out_line, "\n");
  record();
  begin(); adds(&out_line, "S "); addl(&out_line, pid); adds(&out_line, "\n");
  report();
  /* Half of what waited has started, or the last one it was sent: the runner hears of the ends
     before, and sends more while the rest runs. */
  int waiting = requests_waiting();
  if (held_waiting < 0) held_waiting = waiting;
  if (waiting == 0 || 2 * waiting <= held_waiting) flush_reports();

  reuse_log(reuse, log);
  log_fd = open(log, log_flags | O_CLOEXEC, 0644);
  log_ok = log_fd >= 0;
  if (!log_ok) log_error();
  log_write(header, strlen(header));
  /* The next request, if the runner sent it already: its shell started while this one runs. */
  if (!have_next && request_here() && read_request(next_request)) {
    have_next = 1;
    if (strcmp(next_request->fields[8], "1") == 0) start_ahead(next_request);
  }
  records_ahead();

  struct line partial = { 0 };
  int status = 0, have_status = 0, open_ = 1;
  long gone_at = -1;
  static char chunk[65536];
  struct pollfd pf = { out, POLLIN, 0 };
  while (open_) {
    if (hurried) { hurried = 0; flush_reports(); }
    int timeout = gone_at >= 0 ? 20 : (have_status ? 10 : 50);
    int due = report_due();
    if (due >= 0 && due < timeout) timeout = due;
    int ready = poll(&pf, 1, timeout);
    if (ready > 0) {
      ssize_t got = read(out, chunk, sizeof chunk);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        if (partial.len) emit(partial.data, partial.len);
        open_ = 0;
        break;
      }
      if (!*prefix) log_write(chunk, (size_t)got);
      if (*prefix || lines) {
        add(&partial, chunk, (size_t)got);
        size_t from = 0;
        for (size_t i = 0; i < partial.len; i++) {
          if (partial.data[i] == '\n') { emit_line(partial.data + from, i - from); from = i + 1; }
        }
        memmove(partial.data, partial.data + from, partial.len - from);
        partial.len -= from;
        while (partial.len > 4096) {
          emit(partial.data, 4096);
          memmove(partial.data, partial.data + 4096, partial.len - 4096);
          partial.len -= 4096;
        }
      }
    }
    if (!have_status) {
      if (waitpid(pid, &status, WNOHANG) == pid) {
        have_status = 1;
        begin(); adds(&out_line, "Q\n"); report();
        gone_at = stop_group(pid);
      }
    } else if (gone_at < 0) {
      gone_at = now_ms();  /* output goes on after the group was gone: the drain's clock starts */
    }
    /* The shell and its group are gone and the output is still held (by a process that left the
       group): after the drain it is no longer read; the runner stops what carries the identity. */
    if (gone_at >= 0 && now_ms() - gone_at > drain_ms) break;
  }
  free(partial.data);
  close(out);
  /* The usual end: the pipe's, then the shell's, its group empty. Its Q then goes with the X: one
     report (one wake-up of the runner) less. */
  int quit_with_end = 0;
  if (!have_status) {
    /* A shell that closed its output may run on for long: the held reports (its start) go when
       their time is up, as they would while its output is read. */
    int due = report_due();
    if (due > 0) {
      struct itimerval at = { { 0, 0 }, { due / 1000, (due % 1000) * 1000 } };
      setitimer(ITIMER_REAL, &at, NULL);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) flush_reports();
    if (due > 0) {
      struct itimerval off = { { 0, 0 }, { 0, 0 } };
      setitimer(ITIMER_REAL, &off, NULL);
    }
    quit_with_end = !group_alive(pid);
    if (!quit_with_end) { begin(); adds(&out_line, "Q\n"); report(); }
    stop_group(pid);
  }
  if (log_ok) close(log_fd);
  attempt_group = 0;
  begin(); adds(&out_line, "end\t"); adds(&out_line, key); adds(&out_line, "\t"); adds(&out_line, n); adds(&out_line, "\t");
  if (WIFSIGNALED(status)) { adds(&out_line, "\t"); addl(&out_line, WTERMSIG(status)); }
  else { addl(&out_line, WEXITSTATUS(status)); adds(&out_line, "\t"); }
  adds(&out_line, "\t"); addl(&out_line, (long)time(NULL)); adds(&out_line, "\n");
  int recorded = record();
  /* Durable: on disk before the runner hears of it, and before what is queued behind it starts
     (an end that could not be recorded and synced is no commit: nothing queued follows it). */
  int synced = durable && recorded && sync_records();
  begin();
  if (quit_with_end) adds(&out_line, "Q\n");
  adds(&out_line, "X ");
  if (WIFSIGNALED(status)) { adds(&out_line, " "); addl(&out_line, WTERMSIG(status)); }
  else { addl(&out_line, WEXITSTATUS(status)); adds(&out_line, " "); }
  adds(&out_line, open_ ? " 1" : " 0");
  adds(&out_line, synced ? " 1 " : " 0 ");
  addll(&out_line, started_at); adds(&out_line, " "); addll(&out_line, wall_ms()); adds(&out_line, "\n");
  report();
  int ok = !WIFSIGNALED(status) && WEXITSTATUS(status) == 0 && (synced || !durable);
  if (!ok) flush_reports();
  return ok;
}

static void on_term(int sig) { (void)sig; if (attempt_group) kill(-attempt_group, SIGTERM); }
static void on_pipe(int sig) { (void)sig; }
static void on_alarm(int sig) { (void)sig; }
static void on_usr1(int sig) { (void)sig; hurried = 1; }

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--check") == 0) { puts("slot"); return 0; }
  if (argc < 6) { fputs("usage: slot records runner grace_ms drain_ms log_flags [keep [hold]]\n", stderr); return 64; }
  records_path = argv[1];
  runner = atol(argv[2]);
  grace_ms = atol(argv[3]);
  drain_ms = atol(argv[4]);
  log_flags = atoi(argv[5]);
  keep = argc > 6 ? argv[6] : "";
  hold = argc > 7 ? argv[7] : "";
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  /* In a Slurm job, a cancel's SIGTERM is handed to the attempt's group; the slot stays to record its end. */
  if (*keep) { sa.sa_handler = on_term; sigaction(SIGTERM, &sa, NULL); }
  /* The runner may be gone: a report then fails with EPIPE. */
  sa.sa_handler = on_pipe;
  sigaction(SIGPIPE, &sa, NULL);
  /* Not restarted: it ends a wait for a shell, for the held reports to go. */
  sa.sa_flags = 0;
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  /* The runner stops an attempt whose start it has not heard of yet: the held reports go now. */
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  /* However it ends (its requests closed, the runner gone): what it holds is written. */
  atexit(flush_reports);
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);
  /* Without its records (a full disk) an attempt still runs; only a successor could not adopt it. */
  rec = open(records_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  for (char **e = environ; *e; e++) env_set(*e);
  if (!env) env_set("_="), env_unset("_");

  int last_ok = 1;
  struct request *request = &requests[0];
  for (;;) {
    if (have_next) {
      struct request *read_ahead = next_request;
      next_request = request;
      request = read_ahead;
      have_next = 0;
    } else if (!read_request(request)) break;
    if (runner && getppid() != runner) break;
    char **fields = request->fields;
    /* Only what was queued: a request sent to it idle is the runner's decision of now, and a pause
       that follows it finds it in flight. */
    if ((strcmp(fields[8], "1") == 0 && (!last_ok || (*hold && access(hold, F_OK) == 0))) || !unchanged(fields[10])) {
      drop_ahead();
      begin(); adds(&out_line, "D\n"); report();
      last_ok = 0;
      continue;
    }
    last_ok = run_attempt(fields, fields[13]);
  }
  drop_ahead();
  return 0;
}
`;
