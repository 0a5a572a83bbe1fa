/*
 * hookbus-launcher: runs a container's command and reports its outputs through the
 * container's termination message, so that outputs work in any image (no shell, no
 * Python, no API credentials needed in the workload's pod).
 *
 *   hookbus-launcher install DEST [--script PATH] [--input-file MODE:SRC:DST]...
 *                            [--input-dir MODE:SRC:DST]...
 *       Copies this program to DEST (mode 0755). With --script, also writes the
 *       script source held in the environment variable HOOKBUS_SCRIPT to PATH.
 *       --input-file copies the file SRC to DST, --input-dir unpacks the file list
 *       SRC (see below) into the directory DST; MODE (octal, may be empty: 0644 for
 *       a file, the list's own modes for a directory) is set on DST.
 *       This is what the pod's init container runs: SRC is the node's input
 *       ConfigMap, DST the emptyDir main mounts the artifacts from.
 *
 *   hookbus-launcher [--result] [--output NAME=PATH]... [--artifact NAME=PATH]...
 *                    [--termination-log PATH] [--spill-dir DIR] -- COMMAND [ARGS...]
 *       Looks COMMAND up as Go's exec.LookPath does, runs it with ARGS, forwards
 *       SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to it, passes its
 *       stdout and stderr through (stdout is also kept, its last 256 KiB, with
 *       --result), and exits with its exit code (128 + signal when a signal ended
 *       it). Afterwards it reads each output parameter and artifact from its path
 *       and writes one JSON document, at most HOOKBUS_MESSAGE_LIMIT bytes (4096), to
 *       the termination log (--termination-log, else HOOKBUS_TERMINATION_LOG, else
 *       /dev/termination-log). Values that do not fit are left out of that document
 *       and named in its "spilled" list; the whole document is then written to
 *       DIR/outputs.json (--spill-dir, else HOOKBUS_SPILL_DIR, else /var/run/hookbus)
 *       and as the last line of stderr, prefixed with "##hookbus-outputs## ".
 *
 * The document (protocol version 1):
 *   {"hookbus":1,"exitCode":N,"signal":S,"error":"...","result":"...",
 *    "parameters":{"name":"value"},"artifacts":{"name":"<base64>"},
 *    "problems":{"artifacts.name":"reason"},"spilled":["result","parameters.x"]}
 * Keys without a value are absent. Strings are UTF-8; invalid bytes become U+FFFD.
 * An artifact whose path is a directory is reported under "directories" as a file
 * list (base64), at most 1 MiB:
 *   "hookbus-files 1\n", then per entry "<d|f|l> <octal mode> <size> <path length>\n",
 *   the relative path and size bytes of data (a file's content, a link's target).
 * A COMMAND that cannot be found ends with exit code 64 and "error" holding Argo's
 * wording: failed to find name in PATH: exec: "x": executable file not found in $PATH.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define RESULT_MAX (256 * 1024)
#define VALUE_MAX (1024 * 1024)
#define NOT_FOUND_EXIT 64
#define MAX_OUTPUTS 256
#define SPILL_MARK "##hookbus-outputs## "

extern char **environ;

/* ------------------------------------------------------------------ buffers */

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

static void die(const char *what) {
    dprintf(2, "hookbus-launcher: %s: %s\n", what, strerror(errno));
    _exit(NOT_FOUND_EXIT);
}

static void buf_grow(buf_t *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) die("out of memory");
    b->data = data;
    b->cap = cap;
}

static void buf_add(buf_t *b, const char *s, size_t n) {
    buf_grow(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_str(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_fmt(buf_t *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

/* Appends s as a JSON string literal (quotes included). */
static void json_str(buf_t *b, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    buf_add(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        if (c == '"' || c == '\\') { char esc[2] = {'\\', (char)c}; buf_add(b, esc, 2); i++; }
        else if (c == '\n') { buf_add(b, "\\n", 2); i++; }
        else if (c == '\t') { buf_add(b, "\\t", 2); i++; }
        else if (c == '\r') { buf_add(b, "\\r", 2); i++; }
        else if (c < 0x20 || c == 0x7F) { buf_fmt(b, "\\u%04x", c); i++; }
        else if (c < 0x80) { buf_add(b, (const char *)u + i, 1); i++; }
        else {
            size_t len = utf8_len(u + i, n - i);
            if (len) { buf_add(b, (const char *)u + i, len); i += len; }
            else { buf_add(b, "\\ufffd", 6); i++; }
        }
    }
    buf_add(b, "\"", 1);
}

static void base64(buf_t *b, const unsigned char *s, size_t n) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    buf_add(b, "\"", 1);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
        char out[4] = {abc[v >> 18 & 63], abc[v >> 12 & 63], i + 1 < n ? abc[v >> 6 & 63] : '=', i + 2 < n ? abc[v & 63] : '='};
        buf_add(b, out, 4);
    }
    buf_add(b, "\"", 1);
}

/* ------------------------------------------------------------------ files */

static int write_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int write_file(const char *path, const char *s, size_t n, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return -1;
    int rc = write_all(fd, s, n);
    if (close(fd) < 0) rc = -1;
    return rc;
}

/* Reads at most max bytes of path into b; 0, or -1 with errno (EFBIG: larger than max). */
static int read_file(const char *path, buf_t *b, size_t max) {
    struct stat st;
    if (stat(path, &st) < 0) return -1;
    if (S_ISDIR(st.st_mode)) { errno = EISDIR; return -1; }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char chunk[65536];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0) {
            if (errno == EINTR) continue;
            close(fd);
            return -1;
        }
        if (r == 0) break;
        if (b->len + (size_t)r > max) { close(fd); errno = EFBIG; return -1; }
        buf_add(b, chunk, (size_t)r);
    }
    close(fd);
    return 0;
}

/* ------------------------------------------------------------------ file lists */

#define FILE_LIST_MAGIC "hookbus-files 1\n"

/* Whether rel is a relative path with no empty, "." or ".." component. */
static int safe_relative(const char *rel, size_t n) {
    if (n == 0 || rel[0] == '/') return 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || rel[i] == '/') {
            size_t len = i - start;
            if (len == 0 || (len == 1 && rel[start] == '.') || (len == 2 && rel[start] == '.' && rel[start + 1] == '.'))
                return 0;
            start = i + 1;
        }
        if (i < n && rel[i] == '\0') return 0;
    }
    return 1;
}

/* mkdir -p of the directories above path (path itself excluded). */
static int make_parents(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        int rc = mkdir(path, 0755);
        int e = errno;
        *p = '/';
        if (rc < 0 && e != EEXIST) { errno = e; return -1; }
    }
    return 0;
}

typedef struct { char *path; char *target; } link_t;
typedef struct { char *path; mode_t mode; } folder_t;

/* Unpacks the file list in data into the directory root; 0, or -1 with a message in err. */
static int unpack_list(const char *data, size_t n, const char *root, buf_t *err) {
    size_t magic = strlen(FILE_LIST_MAGIC);
    if (n < magic || memcmp(data, FILE_LIST_MAGIC, magic) != 0) { buf_str(err, "not a file list"); return -1; }
    if (mkdir(root, 0755) < 0 && errno != EEXIST) { buf_fmt(err, "mkdir %s: %s", root, strerror(errno)); return -1; }
    link_t *links = NULL;
    folder_t *folders = NULL;
    size_t nlinks = 0, nfolders = 0, at = magic;
    int rc = 0;
    while (at < n && rc == 0) {
        const char *nl = memchr(data + at, '\n', n - at);
        char kind;
        unsigned long mode, size, len;
        char head[128];
        size_t hlen = nl ? (size_t)(nl - (data + at)) : 0;
        if (!nl || hlen >= sizeof head) { buf_fmt(err, "bad header at byte %zu", at); rc = -1; break; }
        memcpy(head, data + at, hlen);
        head[hlen] = '\0';
        if (sscanf(head, "%c %lo %lu %lu", &kind, &mode, &size, &len) != 4) { buf_fmt(err, "bad header at byte %zu", at); rc = -1; break; }
        size_t body = at + hlen + 1;
        if (len > n - body || size > n - body - len) { buf_fmt(err, "entry at byte %zu is cut short", at); rc = -1; break; }
        const char *rel = data + body;
        const char *content = rel + len;
        at = body + len + size;
        if (!safe_relative(rel, len)) { buf_str(err, "an entry's path is not relative to the directory"); rc = -1; break; }
        buf_t full = {0};
        buf_str(&full, root);
        buf_str(&full, "/");
        buf_add(&full, rel, len);
        if (make_parents(full.data) < 0) { buf_fmt(err, "mkdir for %s: %s", full.data, strerror(errno)); rc = -1; free(full.data); break; }
        if (kind == 'd') {
            if (mkdir(full.data, 0700) < 0 && errno != EEXIST) { buf_fmt(err, "mkdir %s: %s", full.data, strerror(errno)); rc = -1; free(full.data); break; }
            folders = realloc(folders, (nfolders + 1) * sizeof *folders);
            if (!folders) die("out of memory");
            folders[nfolders].path = full.data;
            folders[nfolders++].mode = (mode_t)(mode & 07777);
        } else if (kind == 'f') {
            int fd = open(full.data, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
            if (fd < 0 || write_all(fd, content, size) < 0 || fchmod(fd, (mode_t)(mode & 07777)) < 0) {
                buf_fmt(err, "write %s: %s", full.data, strerror(errno));
                rc = -1;
            }
            if (fd >= 0) close(fd);
            free(full.data);
        } else if (kind == 'l') {
            links = realloc(links, (nlinks + 1) * sizeof *links);
            if (!links) die("out of memory");
            links[nlinks].path = full.data;
            links[nlinks++].target = strndup(content, size);
        } else {
            buf_fmt(err, "unknown entry type '%c'", kind);
            rc = -1;
            free(full.data);
        }
    }
    for (size_t k = 0; k < nlinks; k++) { /* last: nothing was written through a link */
        if (rc == 0 && symlink(links[k].target, links[k].path) < 0) { buf_fmt(err, "symlink %s: %s", links[k].path, strerror(errno)); rc = -1; }
        free(links[k].path);
        free(links[k].target);
    }
    for (size_t k = nfolders; k-- > 0;) { /* after their content: read-only folders are filled first */
        if (rc == 0 && chmod(folders[k].path, folders[k].mode) < 0) { buf_fmt(err, "chmod %s: %s", folders[k].path, strerror(errno)); rc = -1; }
        free(folders[k].path);
    }
    free(links);
    free(folders);
    return rc;
}

/* Appends the directory dir (below root, as rel) to the file list in out, at most max bytes. */
static int pack_dir(const char *dir, const char *rel, buf_t *out, size_t max) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        buf_t full = {0}, name = {0};
        buf_fmt(&full, "%s/%s", dir, e->d_name);
        if (rel[0]) { buf_str(&name, rel); buf_str(&name, "/"); }
        buf_str(&name, e->d_name);
        struct stat st;
        if (lstat(full.data, &st) < 0) rc = -1;
        else if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t t = readlink(full.data, target, sizeof target);
            if (t < 0) rc = -1;
            else { buf_fmt(out, "l 777 %zd %zu\n", t, name.len); buf_add(out, name.data, name.len); buf_add(out, target, (size_t)t); }
        } else if (S_ISDIR(st.st_mode)) {
            buf_fmt(out, "d %o 0 %zu\n", (unsigned)(st.st_mode & 07777), name.len);
            buf_add(out, name.data, name.len);
            rc = pack_dir(full.data, name.data, out, max);
        } else if (S_ISREG(st.st_mode)) {
            if (out->len + (size_t)st.st_size > max) { errno = EFBIG; rc = -1; }
            else {
                buf_fmt(out, "f %o %lld %zu\n", (unsigned)(st.st_mode & 07777), (long long)st.st_size, name.len);
                buf_add(out, name.data, name.len);
                size_t before = out->len;
                if (read_file(full.data, out, max) < 0) rc = -1;
                else if (out->len - before != (size_t)st.st_size) { errno = EAGAIN; rc = -1; } /* changed while read */
            }
        }
        if (rc == 0 && out->len > max) { errno = EFBIG; rc = -1; }
        free(full.data);
        free(name.data);
    }
    int e2 = errno;
    closedir(d);
    errno = e2;
    return rc;
}

/* Splits "MODE:SRC:DST" (MODE octal or empty: -1). */
static int parse_input(const char *arg, long *mode, char **src, const char **dst) {
    const char *c1 = strchr(arg, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2 || c2 == c1 + 1 || !c2[1]) return -1;
    *mode = -1;
    if (c1 != arg) {
        char *end;
        *mode = strtol(arg, &end, 8);
        if (end != c1 || *mode < 0 || *mode > 07777) return -1;
    }
    *src = strndup(c1 + 1, (size_t)(c2 - c1 - 1));
    *dst = c2 + 1;
    return 0;
}

/* Places one input artifact (install --input-file / --input-dir); 0, or 1 after a message. */
static int place_input(const char *flag, const char *arg) {
    long mode;
    char *src;
    const char *dst;
    if (parse_input(arg, &mode, &src, &dst) < 0) {
        dprintf(2, "hookbus-launcher: %s %s: expected MODE:SRC:DST (MODE octal or empty)\n", flag, arg);
        return 2;
    }
    buf_t data = {0};
    if (read_file(src, &data, 64 * 1024 * 1024) < 0) {
        dprintf(2, "hookbus-launcher: %s: cannot read %s: %s\n", flag, src, strerror(errno));
        return 1;
    }
    int is_dir = strcmp(flag, "--input-dir") == 0;
    buf_t err = {0};
    if (is_dir) {
        if (unpack_list(data.data ? data.data : "", data.len, dst, &err) < 0) {
            dprintf(2, "hookbus-launcher: %s %s: %s\n", flag, src, err.data);
            return 1;
        }
    } else if (write_file(dst, data.data ? data.data : "", data.len, 0644) < 0) {
        dprintf(2, "hookbus-launcher: %s: cannot write %s: %s\n", flag, dst, strerror(errno));
        return 1;
    }
    if ((mode >= 0 || !is_dir) && chmod(dst, mode >= 0 ? (mode_t)mode : 0644) < 0) {
        dprintf(2, "hookbus-launcher: %s: chmod %s: %s\n", flag, dst, strerror(errno));
        return 1;
    }
    free(data.data);
    free(src);
    return 0;
}

static int install(int argc, char **argv) {
    if (argc < 3) {
        dprintf(2, "usage: hookbus-launcher install DEST [--script PATH] [--input-file MODE:SRC:DST]... [--input-dir MODE:SRC:DST]...\n");
        return 2;
    }
    const char *dest = argv[2];
    buf_t self = {0};
    if (read_file("/proc/self/exe", &self, 64 * 1024 * 1024) < 0) die("cannot read /proc/self/exe");
    buf_t tmp = {0};
    buf_fmt(&tmp, "%s.tmp", dest);
    if (write_file(tmp.data, self.data, self.len, 0755) < 0 || chmod(tmp.data, 0755) < 0 || rename(tmp.data, dest) < 0) {
        dprintf(2, "hookbus-launcher: cannot install to %s: %s\n", dest, strerror(errno));
        return 1;
    }
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--script") == 0 && i + 1 < argc) {
            const char *source = getenv("HOOKBUS_SCRIPT");
            if (!source) {
                dprintf(2, "hookbus-launcher: --script %s: HOOKBUS_SCRIPT is not set\n", argv[i + 1]);
                return 1;
            }
            if (write_file(argv[i + 1], source, strlen(source), 0755) < 0 || chmod(argv[i + 1], 0755) < 0) {
                dprintf(2, "hookbus-launcher: cannot write the script to %s: %s\n", argv[i + 1], strerror(errno));
                return 1;
            }
            i++;
        } else if ((strcmp(argv[i], "--input-file") == 0 || strcmp(argv[i], "--input-dir") == 0) && i + 1 < argc) {
            int rc = place_input(argv[i], argv[i + 1]);
            if (rc) return rc;
            i++;
        } else {
            dprintf(2, "hookbus-launcher: install: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ lookup */

/* Go's reason why path is not an executable file, or NULL. */
static const char *not_executable(const char *path) {
    struct stat st;
    if (stat(path, &st) < 0) return NULL; /* the caller reports the stat error itself */
    if (S_ISDIR(st.st_mode)) return "is a directory";
    if (access(path, X_OK) < 0 || !(st.st_mode & 0111)) return "permission denied";
    return NULL;
}

static void lower_first(char *s) {
    if (s[0] >= 'A' && s[0] <= 'Z') s[0] = (char)(s[0] - 'A' + 'a');
}

/* The file to exec for name (as exec.LookPath finds it) or NULL, with Go's error in err. */
static char *look_path(const char *name, buf_t *err) {
    if (strchr(name, '/')) {
        struct stat st;
        if (stat(name, &st) < 0) {
            char reason[256];
            snprintf(reason, sizeof reason, "%s", strerror(errno));
            lower_first(reason);
            buf_str(err, "stat ");
            buf_str(err, name);
            buf_str(err, ": ");
            buf_str(err, reason);
            return NULL;
        }
        const char *why = not_executable(name);
        if (why) { buf_str(err, why); return NULL; }
        return strdup(name);
    }
    const char *path = getenv("PATH");
    if (name[0] && path) {
        const char *p = path;
        for (;;) {
            const char *end = strchr(p, ':');
            size_t n = end ? (size_t)(end - p) : strlen(p);
            buf_t full = {0};
            if (n == 0) buf_str(&full, ".");
            else buf_add(&full, p, n);
            buf_str(&full, "/");
            buf_str(&full, name);
            struct stat st;
            if (stat(full.data, &st) == 0 && !not_executable(full.data)) return full.data;
            free(full.data);
            if (!end) break;
            p = end + 1;
        }
    }
    buf_str(err, "executable file not found in $PATH");
    return NULL;
}

/* ------------------------------------------------------------------ running */

static volatile pid_t child = 0;
static volatile sig_atomic_t got_signal = 0;
static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

static void forward(int sig) {
    got_signal = sig;
    if (child > 0) kill(child, sig);
}

/* The last RESULT_MAX + 1 bytes of stdout, as a ring. */
typedef struct {
    char *data;
    size_t start, len;
    int enabled;
} ring_t;

static void ring_add(ring_t *r, const char *s, size_t n) {
    const size_t cap = RESULT_MAX + 1;
    while (n > 0) {
        size_t at = (r->start + r->len) % cap;
        size_t piece = cap - at < n ? cap - at : n;
        memcpy(r->data + at, s, piece);
        s += piece;
        n -= piece;
        r->len += piece;
        if (r->len > cap) {
            r->start = (r->start + r->len - cap) % cap;
            r->len = cap;
        }
    }
}

/* outputs.result: the kept stdout, one trailing newline removed, its last RESULT_MAX bytes. */
static void ring_result(const ring_t *r, buf_t *out) {
    const size_t cap = RESULT_MAX + 1;
    size_t len = r->len;
    if (len && r->data[(r->start + len - 1) % cap] == '\n') len--;
    size_t skip = len > RESULT_MAX ? len - RESULT_MAX : 0;
    for (size_t i = skip; i < len; i++) buf_add(out, &r->data[(r->start + i) % cap], 1);
}

typedef struct {
    const char *name, *path;
} output_t;

typedef struct {
    char key[300];   /* "result", "parameters.NAME", "artifacts.NAME" */
    const char *section;
    const char *name;
    buf_t json;      /* the value as JSON */
} value_t;

static int by_size(const void *a, const void *b) {
    const value_t *x = *(value_t *const *)a, *y = *(value_t *const *)b;
    return x->json.len < y->json.len ? -1 : x->json.len > y->json.len;
}

/* The document with every value whose "included" flag is set; spilled names the others. */
static void document(buf_t *doc, const buf_t *head, value_t *values, const int *included, int count, int any_spilled) {
    static const char *sections[] = {"parameters", "artifacts", "directories"};
    doc->len = 0;
    buf_add(doc, head->data, head->len);
    for (int i = 0; i < count; i++) {
        if (included[i] && strcmp(values[i].key, "result") == 0) {
            buf_str(doc, ",\"result\":");
            buf_add(doc, values[i].json.data, values[i].json.len);
        }
    }
    for (int s = 0; s < 3; s++) {
        int opened = 0;
        for (int i = 0; i < count; i++) {
            if (!included[i] || !values[i].section || strcmp(values[i].section, sections[s]) != 0) continue;
            buf_str(doc, opened ? "," : ",\"");
            if (!opened) { buf_str(doc, sections[s]); buf_str(doc, "\":{"); }
            opened = 1;
            json_str(doc, values[i].name, strlen(values[i].name));
            buf_str(doc, ":");
            buf_add(doc, values[i].json.data, values[i].json.len);
        }
        if (opened) buf_str(doc, "}");
    }
    if (any_spilled) {
        buf_str(doc, ",\"spilled\":[");
        int first = 1;
        for (int i = 0; i < count; i++) {
            if (included[i]) continue;
            if (!first) buf_str(doc, ",");
            first = 0;
            json_str(doc, values[i].key, strlen(values[i].key));
        }
        buf_str(doc, "]");
    }
    buf_str(doc, "}");
}

static size_t env_size(const char *name, size_t fallback) {
    const char *v = getenv(name);
    if (!v || !*v) return fallback;
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    return *end || n < 256 ? fallback : (size_t)n;
}

static const char *env_or(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static int parse_pair(const char *flag, const char *arg, output_t *out) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1]) {
        dprintf(2, "hookbus-launcher: %s %s: expected NAME=PATH\n", flag, arg);
        return -1;
    }
    out->name = strndup(arg, (size_t)(eq - arg));
    out->path = eq + 1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "install") == 0) return install(argc, argv);

    static output_t params[MAX_OUTPUTS], artifacts[MAX_OUTPUTS];
    int nparams = 0, nartifacts = 0, want_result = 0, i = 1;
    const char *term_log = env_or("HOOKBUS_TERMINATION_LOG", "/dev/termination-log");
    const char *spill_dir = env_or("HOOKBUS_SPILL_DIR", "/var/run/hookbus");
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        const char *a = argv[i];
        int has_next = i + 1 < argc;
        if (strcmp(a, "--result") == 0) want_result = 1;
        else if (strcmp(a, "--output") == 0 && has_next && nparams < MAX_OUTPUTS) {
            if (parse_pair(a, argv[++i], &params[nparams++]) < 0) return 2;
        } else if (strcmp(a, "--artifact") == 0 && has_next && nartifacts < MAX_OUTPUTS) {
            if (parse_pair(a, argv[++i], &artifacts[nartifacts++]) < 0) return 2;
        } else if (strcmp(a, "--termination-log") == 0 && has_next) term_log = argv[++i];
        else if (strcmp(a, "--spill-dir") == 0 && has_next) spill_dir = argv[++i];
        else {
            dprintf(2, "hookbus-launcher: unknown or incomplete option %s\n"
                       "usage: hookbus-launcher [--result] [--output NAME=PATH]... [--artifact NAME=PATH]... "
                       "[--termination-log PATH] [--spill-dir DIR] -- COMMAND [ARGS...]\n"
                       "       hookbus-launcher install DEST [--script PATH]\n", a);
            return 2;
        }
    }
    if (i + 1 >= argc) {
        dprintf(2, "hookbus-launcher: no command after --\n");
        return 2;
    }
    char **cmd = argv + i + 1;
    size_t limit = env_size("HOOKBUS_MESSAGE_LIMIT", 4096);

    buf_t error = {0};
    int exit_code = 0, signal_no = 0;
    ring_t ring = {0};
    ring.enabled = want_result;

    buf_t why = {0};
    char *program = look_path(cmd[0], &why);
    if (!program) {
        buf_str(&error, "failed to find name in PATH: exec: ");
        json_str(&error, cmd[0], strlen(cmd[0]));
        buf_str(&error, ": ");
        buf_add(&error, why.data, why.len);
        dprintf(2, "%s\n", error.data);
        exit_code = NOT_FOUND_EXIT;
        want_result = 0;
    } else {
        int out_pipe[2] = {-1, -1}, err_pipe[2];
        if (want_result) {
            ring.data = malloc(RESULT_MAX + 1);
            if (!ring.data || pipe2(out_pipe, O_CLOEXEC) < 0) die("cannot capture stdout");
        }
        if (pipe2(err_pipe, O_CLOEXEC) < 0) die("pipe");
        sigset_t all, old;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, &old);
        struct sigaction sa = {0};
        sa.sa_handler = forward;
        sigemptyset(&sa.sa_mask);
        for (size_t s = 0; s < sizeof forwarded / sizeof forwarded[0]; s++) sigaction(forwarded[s], &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        pid_t pid = fork();
        if (pid < 0) die("fork");
        if (pid == 0) {
            struct sigaction dfl = {0};
            dfl.sa_handler = SIG_DFL;
            for (size_t s = 0; s < sizeof forwarded / sizeof forwarded[0]; s++) sigaction(forwarded[s], &dfl, NULL);
            signal(SIGPIPE, SIG_DFL);
            sigprocmask(SIG_SETMASK, &old, NULL);
            if (want_result && dup2(out_pipe[1], 1) < 0) _exit(NOT_FOUND_EXIT);
            execve(program, cmd, environ);
            int e = errno;
            (void)!write(err_pipe[1], &e, sizeof e);
            _exit(NOT_FOUND_EXIT);
        }
        child = pid;
        sigprocmask(SIG_SETMASK, &old, NULL); /* a signal held back meanwhile is forwarded now */
        close(err_pipe[1]);
        if (want_result) {
            close(out_pipe[1]);
            char chunk[65536];
            int stdout_open = 1;
            for (;;) {
                ssize_t r = read(out_pipe[0], chunk, sizeof chunk);
                if (r < 0 && errno == EINTR) continue;
                if (r <= 0) break;
                if (stdout_open && write_all(1, chunk, (size_t)r) < 0) stdout_open = 0;
                ring_add(&ring, chunk, (size_t)r);
            }
            close(out_pipe[0]);
        }
        int exec_errno = 0;
        ssize_t got;
        do got = read(err_pipe[0], &exec_errno, sizeof exec_errno);
        while (got < 0 && errno == EINTR);
        close(err_pipe[0]);
        int status = 0;
        for (;;) { /* reap every child (the launcher may be PID 1) until the command's */
            pid_t w = waitpid(-1, &status, 0);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0 || w == pid) break;
        }
        child = 0;
        if (got == (ssize_t)sizeof exec_errno) {
            char reason[256];
            snprintf(reason, sizeof reason, "%s", strerror(exec_errno));
            lower_first(reason);
            buf_fmt(&error, "fork/exec %s: %s", program, reason);
            dprintf(2, "%s\n", error.data);
            exit_code = NOT_FOUND_EXIT;
            want_result = 0;
        } else if (WIFSIGNALED(status)) {
            signal_no = WTERMSIG(status);
            exit_code = 128 + signal_no;
        } else {
            exit_code = WEXITSTATUS(status);
        }
    }

    /* The values, each as JSON. */
    static value_t values[2 * MAX_OUTPUTS + 1];
    int count = 0;
    buf_t problems = {0};
    if (want_result) {
        value_t *v = &values[count++];
        snprintf(v->key, sizeof v->key, "result");
        buf_t raw = {0};
        ring_result(&ring, &raw);
        json_str(&v->json, raw.data ? raw.data : "", raw.len);
        free(raw.data);
    }
    for (int k = 0; k < nparams + nartifacts; k++) {
        int is_param = k < nparams;
        const output_t *o = is_param ? &params[k] : &artifacts[k - nparams];
        const char *section = is_param ? "parameters" : "artifacts";
        buf_t raw = {0};
        struct stat st;
        int packed = 0;
        if (!is_param && stat(o->path, &st) == 0 && S_ISDIR(st.st_mode)) {
            section = "directories";
            buf_str(&raw, FILE_LIST_MAGIC);
            packed = pack_dir(o->path, "", &raw, VALUE_MAX);
        } else {
            packed = read_file(o->path, &raw, VALUE_MAX);
        }
        if (packed < 0) {
            if (errno != ENOENT) {
                char reason[256];
                snprintf(reason, sizeof reason, "%s", strerror(errno == EFBIG ? EFBIG : errno));
                lower_first(reason);
                buf_str(&problems, problems.len ? "," : "");
                buf_t key = {0};
                buf_fmt(&key, "%s.%s", is_param ? "parameters" : "artifacts", o->name);
                json_str(&problems, key.data, key.len);
                buf_str(&problems, ":");
                buf_t text = {0};
                if (errno == EFBIG) buf_fmt(&text, "%s is larger than %d bytes", o->path, VALUE_MAX);
                else buf_fmt(&text, "%s: %s", o->path, reason);
                json_str(&problems, text.data, text.len);
                free(key.data);
                free(text.data);
            }
            free(raw.data);
            continue;
        }
        value_t *v = &values[count++];
        snprintf(v->key, sizeof v->key, "%s.%s", section, o->name);
        v->section = section;
        v->name = o->name;
        if (is_param) json_str(&v->json, raw.data ? raw.data : "", raw.len);
        else base64(&v->json, (const unsigned char *)(raw.data ? raw.data : ""), raw.len);
        free(raw.data);
    }

    buf_t head = {0};
    buf_fmt(&head, "{\"hookbus\":1,\"exitCode\":%d", exit_code);
    if (signal_no) buf_fmt(&head, ",\"signal\":%d", signal_no);
    if (error.len) { buf_str(&head, ",\"error\":"); json_str(&head, error.data, error.len); }
    if (problems.len) { buf_str(&head, ",\"problems\":{"); buf_add(&head, problems.data, problems.len); buf_str(&head, "}"); }

    int included[2 * MAX_OUTPUTS + 1];
    for (int k = 0; k < count; k++) included[k] = 1;
    buf_t full = {0};
    document(&full, &head, values, included, count, 0);
    buf_t doc = {0};
    if (full.len <= limit) {
        doc = full;
    } else {
        /* Keep the smallest values that fit; the whole document goes to the spill channel. */
        value_t *order[2 * MAX_OUTPUTS + 1];
        for (int k = 0; k < count; k++) { order[k] = &values[k]; included[k] = 0; }
        qsort(order, (size_t)count, sizeof order[0], by_size);
        document(&doc, &head, values, included, count, 1);
        for (int k = 0; k < count; k++) {
            int at = (int)(order[k] - values);
            included[at] = 1;
            document(&doc, &head, values, included, count, 1);
            if (doc.len > limit) included[at] = 0;
        }
        document(&doc, &head, values, included, count, 1);
        buf_t spill = {0};
        buf_fmt(&spill, "%s/outputs.json", spill_dir);
        if (write_file(spill.data, full.data, full.len, 0644) < 0)
            dprintf(2, "hookbus-launcher: cannot write %s: %s\n", spill.data, strerror(errno));
        buf_t line = {0};
        buf_str(&line, "\n" SPILL_MARK);
        buf_add(&line, full.data, full.len);
        buf_str(&line, "\n");
        write_all(2, line.data, line.len);
    }
    if (doc.len > limit) doc.len = limit; /* only a huge error text gets here */
    if (write_file(term_log, doc.data, doc.len, 0644) < 0)
        dprintf(2, "hookbus-launcher: cannot write the termination message to %s: %s\n", term_log, strerror(errno));
    return exit_code;
}
