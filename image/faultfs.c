/* faultline-fs: a FUSE file system that forgets what was never fsynced.
 *
 *   faultline-fs mount BACKING MOUNTPOINT   mount (returns once the mount is up; serves in the
 *                                           background)
 *   faultline-fs ctl BACKING COMMAND        talk to a mounted one: drop | stats | sync |
 *                                           fail EIO|ENOSPC | heal | ping
 *
 * Everything passes through to BACKING/root at once (reads come from there), and what a
 * power cut would lose is remembered instead: for each file written since its last
 * fsync/fdatasync, its size at that fsync and the old bytes of every 4 KiB page overwritten
 * or cut off since; for each directory changed since its last fsync, its entries at that
 * fsync. Unlinked and replaced inodes wait in BACKING/trash/<inode> while a durable entry may
 * still name them. `drop` makes the tree what it was at the last fsyncs: every entry is moved
 * into the trash, the tree is rebuilt from the durable entries, files are cut back to their
 * durable size with their old pages written back, and whatever no durable entry reaches is
 * deleted. Writes through an O_SYNC or O_DSYNC descriptor are durable at once. A rename
 * between two directories is atomic, as on ext4: the fsync of either makes both directories'
 * entries durable, so a power cut never leaves the file under both names or under neither.
 * sync_file_range never reaches a FUSE file system: data it alone flushed counts as lost.
 *
 * Built with -DFAULTFS_MUTANT_FDATASYNC, fdatasync makes nothing durable: the mutation the
 * property test (crates/cluster/tests/faultfs.rs) must catch. */
#define FUSE_USE_VERSION 35
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#define PAGE 4096

/* ---- a map from 64-bit keys to pointers (open addressing, backward-shift delete) ---- */
struct map {
    uint64_t *keys;
    void **vals;
    size_t cap, len;
};

static size_t map_slot(const struct map *m, uint64_t k) {
    return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 7) & (m->cap - 1);
}

static void **map_get(const struct map *m, uint64_t k) {
    if (!m->cap) return NULL;
    for (size_t i = map_slot(m, k);; i = (i + 1) & (m->cap - 1)) {
        if (!m->vals[i]) return NULL;
        if (m->keys[i] == k) return &m->vals[i];
    }
}

static void map_put(struct map *m, uint64_t k, void *v);

static void map_grow(struct map *m) {
    struct map old = *m;
    m->cap = old.cap ? old.cap * 2 : 16;
    m->len = 0;
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->vals = calloc(m->cap, sizeof *m->vals);
    if (!m->keys || !m->vals) abort();
    for (size_t i = 0; i < old.cap; i++)
        if (old.vals[i]) map_put(m, old.keys[i], old.vals[i]);
    free(old.keys);
    free(old.vals);
}

static void map_put(struct map *m, uint64_t k, void *v) {
    void **slot = map_get(m, k);
    if (slot) {
        *slot = v;
        return;
    }
    if ((m->len + 1) * 2 > m->cap) map_grow(m);
    size_t i = map_slot(m, k);
    while (m->vals[i]) i = (i + 1) & (m->cap - 1);
    m->keys[i] = k;
    m->vals[i] = v;
    m->len++;
}

static void map_del(struct map *m, uint64_t k) {
    if (!m->cap) return;
    size_t i = map_slot(m, k);
    while (m->vals[i] && m->keys[i] != k) i = (i + 1) & (m->cap - 1);
    if (!m->vals[i]) return;
    m->vals[i] = NULL;
    m->len--;
    for (size_t j = (i + 1) & (m->cap - 1); m->vals[j]; j = (j + 1) & (m->cap - 1)) {
        size_t home = map_slot(m, m->keys[j]);
        /* move j back to the hole i unless its home lies cyclically in (i, j] */
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays) continue;
        m->keys[i] = m->keys[j];
        m->vals[i] = m->vals[j];
        m->vals[j] = NULL;
        i = j;
    }
}

static void map_clear(struct map *m, void (*free_val)(void *)) {
    for (size_t i = 0; i < m->cap; i++)
        if (m->vals[i] && free_val) free_val(m->vals[i]);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- what a power cut must bring back ---- */
struct dentry {
    char *name;
    uint64_t ino;
};

/* A tracked inode: one changed since its last fsync (untracked ones are durable as they are). */
struct node {
    int is_dir;
    off_t durable_size;      /* files: size at the last fsync */
    struct map pages;        /* files: page index -> saved old bytes (PAGE, zero padded) */
    struct dentry *entries;  /* dirs: entries at the last fsync */
    size_t n_entries;
};

static struct map nodes; /* inode -> struct node */

/* Two tracked directories a rename moved an entry between since either's last fsync. A rename
 * is one change to both directories (ext4 journals it as one transaction, which the fsync of
 * either commits), so they become durable together: never the new name without the old one
 * gone, which after a drop would be a second name (a hard link) the file never had, nor the
 * old name gone without the new one. */
struct tie {
    uint64_t a, b;
};
static struct tie *ties;
static size_t n_ties, cap_ties;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int rootfd = -1, trashfd = -1;
static char backing[PATH_MAX];
static int fail_errno; /* nonzero: writes, fsyncs and creations fail with it */

static void free_node(void *p) {
    struct node *n = p;
    map_clear(&n->pages, free);
    for (size_t i = 0; i < n->n_entries; i++) free(n->entries[i].name);
    free(n->entries);
    free(n);
}

/* Paths from FUSE start with '/'; relative to rootfd. */
static const char *rel(const char *path) {
    while (*path == '/') path++;
    return *path ? path : ".";
}

static int list_dir(int dirfd_at, const char *path, struct dentry **out, size_t *n) {
    int fd = openat(dirfd_at, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (fd < 0) return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = realloc(*out, cap * sizeof **out);
            if (!*out) abort();
        }
        (*out)[*n].name = strdup(e->d_name);
        (*out)[(*n)++].ino = e->d_ino;
    }
    closedir(d);
    return 0;
}

static void untie(uint64_t ino);

static struct node *new_node(uint64_t ino, int is_dir) {
    struct node *n = calloc(1, sizeof *n);
    if (!n) abort();
    n->is_dir = is_dir;
    untie(ino); /* a tie left by a removed directory must not bind a new one of its number */
    void **old = map_get(&nodes, ino);
    if (old) free_node(*old);
    map_put(&nodes, ino, n);
    return n;
}

/* The directory at `path` is about to change: remember its entries if it was clean. Returns
 * its inode number (0 if it cannot be read). */
static uint64_t track_dir(int at, const char *path) {
    struct stat st;
    if (fstatat(at, path, &st, AT_SYMLINK_NOFOLLOW) < 0) return 0;
    if (map_get(&nodes, st.st_ino)) return st.st_ino;
    struct node *n = new_node(st.st_ino, 1);
    if (list_dir(at, path, &n->entries, &n->n_entries) < 0) n->n_entries = 0;
    return st.st_ino;
}

static uint64_t track_parent(const char *path) {
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", rel(path));
    char *slash = strrchr(buf, '/');
    if (slash) *slash = 0;
    return track_dir(rootfd, slash ? buf : ".");
}

static void tie(uint64_t a, uint64_t b) {
    if (!a || !b || a == b) return;
    for (size_t i = 0; i < n_ties; i++)
        if ((ties[i].a == a && ties[i].b == b) || (ties[i].a == b && ties[i].b == a)) return;
    if (n_ties == cap_ties) {
        cap_ties = cap_ties ? cap_ties * 2 : 8;
        ties = realloc(ties, cap_ties * sizeof *ties);
        if (!ties) abort();
    }
    ties[n_ties++] = (struct tie){a, b};
}

static void untie(uint64_t ino) {
    for (size_t i = 0; i < n_ties;)
        if (ties[i].a == ino || ties[i].b == ino)
            ties[i] = ties[--n_ties];
        else
            i++;
}

/* The file open as `fd` is about to change: remember its size if it was clean. */
static struct node *track_file(int fd, uint64_t ino) {
    void **p = map_get(&nodes, ino);
    if (p) return *p;
    struct stat st;
    if (fstat(fd, &st) < 0) return NULL;
    struct node *n = new_node(ino, 0);
    n->durable_size = st.st_size;
    return n;
}

/* Save the durable bytes of every page in [from, to) not saved since the last fsync. */
static void save_pages(struct node *n, int fd, off_t from, off_t to) {
    if (to > n->durable_size) to = n->durable_size;
    if (from < 0) from = 0;
    for (off_t pg = from / PAGE; pg * PAGE < to; pg++) {
        if (map_get(&n->pages, (uint64_t)pg)) continue;
        char *buf = calloc(1, PAGE);
        if (!buf) abort();
        if (pread(fd, buf, PAGE, pg * PAGE) < 0 && errno == EBADF) {
            /* opened write-only: read through a second descriptor of the same file */
            char proc[64];
            snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
            int rfd = open(proc, O_RDONLY);
            if (rfd >= 0 && pread(rfd, buf, PAGE, pg * PAGE) < 0) memset(buf, 0, PAGE);
            if (rfd >= 0) close(rfd);
        } /* a short read leaves zeros, as a sparse durable page would read */
        map_put(&n->pages, (uint64_t)pg, buf);
    }
}

static void make_file_durable(uint64_t ino) {
    void **p = map_get(&nodes, ino);
    if (!p) return;
    free_node(*p); /* a file with nothing pending is an untracked one */
    map_del(&nodes, ino);
}

/* Is `ino` named by some tracked directory's durable entries? */
static int durably_named(uint64_t ino) {
    for (size_t i = 0; i < nodes.cap; i++) {
        struct node *n = nodes.vals[i];
        if (!n || !n->is_dir) continue;
        for (size_t j = 0; j < n->n_entries; j++)
            if (n->entries[j].ino == ino) return 1;
    }
    return 0;
}

static void trash_name(uint64_t ino, char *buf, size_t len) {
    snprintf(buf, len, "%llu", (unsigned long long)ino);
}

/* Delete trashed inodes no durable entry names any more. */
static void collect_trash(const struct dentry *gone, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (durably_named(gone[i].ino)) continue;
        char name[32];
        trash_name(gone[i].ino, name, sizeof name);
        struct stat st;
        if (fstatat(trashfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
        unlinkat(trashfd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
        void **p = map_get(&nodes, gone[i].ino);
        if (p && st.st_nlink <= 1) {
            free_node(*p);
            map_del(&nodes, gone[i].ino);
        }
    }
}

/* Untrack directory `ino` (its entries now are its durable entries) and, through the ties,
 * every directory a rename joined it to, appending their former durable entries to `old`. */
static void untrack_dir(uint64_t ino, struct dentry **old, size_t *n_old, size_t *cap) {
    void **p = map_get(&nodes, ino);
    if (p) {
        struct node *n = *p;
        map_del(&nodes, ino);
        for (size_t i = 0; i < n->n_entries; i++) {
            if (*n_old == *cap) {
                *cap = *cap ? *cap * 2 : 8;
                *old = realloc(*old, *cap * sizeof **old);
                if (!*old) abort();
            }
            (*old)[(*n_old)++] = n->entries[i];
        }
        free(n->entries);
        n->entries = NULL;
        n->n_entries = 0;
        free_node(n);
    }
    for (size_t i = 0; i < n_ties;) {
        if (ties[i].a != ino && ties[i].b != ino) {
            i++;
            continue;
        }
        uint64_t other = ties[i].a == ino ? ties[i].b : ties[i].a;
        ties[i] = ties[--n_ties];
        untrack_dir(other, old, n_old, cap);
        i = 0; /* the recursion may have removed ties anywhere */
    }
}

/* A directory's fsync: its entries are durable, and so are those of every directory a
 * rename since tied it to (see struct tie). */
static void make_dir_durable(int fd) {
    struct stat st;
    if (fstat(fd, &st) < 0) return;
    struct dentry *old = NULL;
    size_t n_old = 0, cap = 0;
    untrack_dir(st.st_ino, &old, &n_old, &cap);
    collect_trash(old, n_old); /* only once every tied directory is untracked */
    for (size_t i = 0; i < n_old; i++) free(old[i].name);
    free(old);
}

static int dir_is_empty(int at, const char *path) {
    struct dentry *es;
    size_t n;
    if (list_dir(at, path, &es, &n) < 0) return 0;
    for (size_t i = 0; i < n; i++) free(es[i].name);
    free(es);
    return n == 0;
}

/* Remove the entry at `path` (relative to rootfd); its inode waits in the trash while a
 * durable entry may still name it. */
static int to_trash(const char *path) {
    struct stat st;
    if (fstatat(rootfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) return -errno;
    int flags = S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0;
    if (flags && !dir_is_empty(rootfd, path)) return -ENOTEMPTY;
    char name[32];
    trash_name(st.st_ino, name, sizeof name);
    int keep = st.st_nlink > (flags ? 2 : 1) || durably_named(st.st_ino);
    if (!keep || faccessat(trashfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
        if (unlinkat(rootfd, path, flags) < 0) return -errno;
        if (!keep) {
            void **p = map_get(&nodes, st.st_ino);
            if (p) free_node(*p);
            map_del(&nodes, st.st_ino);
        }
        return 0;
    }
    return renameat(rootfd, path, trashfd, name) < 0 ? -errno : 0;
}

/* ---- the power cut ---- */
struct drop_stats {
    long files, bytes, pages, entries, deleted;
};

/* Remember every untracked directory's entries (they are durable as they are), everywhere. */
static void track_all(int at, const char *path) {
    struct dentry *es;
    size_t n;
    track_dir(at, path);
    if (list_dir(at, path, &es, &n) < 0) return;
    int fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (fd >= 0 && fstatat(fd, es[i].name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISDIR(st.st_mode))
            track_all(fd, es[i].name);
        free(es[i].name);
    }
    free(es);
    if (fd >= 0) close(fd);
}

/* Move everything under `fd` into the trash, flat, by inode number. */
static void flatten(int fd) {
    struct dentry *es;
    size_t n;
    if (list_dir(fd, ".", &es, &n) < 0) return;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        char name[32];
        if (fstatat(fd, es[i].name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            if (S_ISDIR(st.st_mode)) {
                int sub = openat(fd, es[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                if (sub >= 0) {
                    flatten(sub);
                    close(sub);
                }
            }
            trash_name(st.st_ino, name, sizeof name);
            if (fd == trashfd && !strcmp(name, es[i].name)) {
            } else if (faccessat(trashfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
                unlinkat(fd, es[i].name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
            } else {
                renameat(fd, es[i].name, trashfd, name);
            }
        }
        free(es[i].name);
    }
    free(es);
}

/* Put the file just placed at `name` under `dirfd` back to its durable bytes. */
static void restore_file(int dirfd, const char *name, struct node *n, struct drop_stats *s) {
    int fd = openat(dirfd, name, O_RDWR | O_NOFOLLOW);
    if (fd < 0) return;
    struct stat st;
    long cut = 0, pages = 0;
    if (fstat(fd, &st) == 0 && st.st_size > n->durable_size) cut = st.st_size - n->durable_size;
    for (size_t i = 0; i < n->pages.cap; i++) {
        if (!n->pages.vals[i]) continue;
        off_t off = (off_t)n->pages.keys[i] * PAGE;
        off_t len = n->durable_size - off < PAGE ? n->durable_size - off : PAGE;
        if (len > 0 && pwrite(fd, n->pages.vals[i], len, off) == len) pages++;
    }
    if (ftruncate(fd, n->durable_size) == 0 && (cut || pages || st.st_size != n->durable_size)) {
        s->files++;
        s->bytes += cut;
        s->pages += pages;
    }
    close(fd);
}

/* Recreate the durable entries of `dir` under `dirfd` (at `path`, relative to the root) from
 * the trash, depth first; `placed` maps each inode placed to its path, for hard links. */
static void rebuild(int dirfd, const char *path, struct node *dir, struct map *placed,
                    struct drop_stats *s) {
    for (size_t i = 0; i < dir->n_entries; i++) {
        struct dentry *e = &dir->entries[i];
        char name[32], sub[PATH_MAX];
        trash_name(e->ino, name, sizeof name);
        snprintf(sub, sizeof sub, "%s/%s", path, e->name);
        void **at = map_get(placed, e->ino);
        if (at) { /* a second durable name of one inode: a hard link (never a directory) */
            linkat(rootfd, *at, dirfd, e->name, 0);
            continue;
        }
        if (renameat(trashfd, name, dirfd, e->name) < 0) continue;
        map_put(placed, e->ino, strdup(sub));
        void **p = map_get(&nodes, e->ino);
        struct stat st;
        if (!p || fstatat(dirfd, e->name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
        if (S_ISDIR(st.st_mode)) {
            int sub_fd = openat(dirfd, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
            if (sub_fd < 0) continue;
            rebuild(sub_fd, sub, *p, placed, s);
            close(sub_fd);
        } else if (S_ISREG(st.st_mode)) {
            restore_file(dirfd, e->name, *p, s);
        }
    }
}

static void remove_tree(int at, const char *name) {
    struct stat st;
    if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return;
    if (S_ISDIR(st.st_mode)) {
        int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        struct dentry *es;
        size_t n;
        if (fd >= 0 && list_dir(fd, ".", &es, &n) == 0) {
            for (size_t i = 0; i < n; i++) {
                remove_tree(fd, es[i].name);
                free(es[i].name);
            }
            free(es);
        }
        if (fd >= 0) close(fd);
        unlinkat(at, name, AT_REMOVEDIR);
    } else {
        unlinkat(at, name, 0);
    }
}

static struct drop_stats drop_unsynced(void) {
    struct drop_stats s = {0};
    for (size_t i = 0; i < nodes.cap; i++) {
        struct node *n = nodes.vals[i];
        if (n && n->is_dir) s.entries++;
    }
    track_all(rootfd, ".");
    track_all(trashfd, ".");
    flatten(rootfd);
    flatten(trashfd);
    struct stat st;
    struct map placed = {0};
    if (fstat(rootfd, &st) == 0) {
        void **root = map_get(&nodes, st.st_ino);
        if (root) rebuild(rootfd, ".", *root, &placed, &s);
    }
    map_clear(&placed, free);
    n_ties = 0;
    struct dentry *es;
    size_t n;
    if (list_dir(trashfd, ".", &es, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            remove_tree(trashfd, es[i].name);
            free(es[i].name);
            s.deleted++;
        }
        free(es);
    }
    map_clear(&nodes, free_node);
    return s;
}

/* ---- the file system ---- */
struct handle {
    int fd;
    uint64_t ino;
    int sync; /* opened O_SYNC or O_DSYNC: every write is durable at once */
};

#define LOCKED(expr)                   \
    ({                                 \
        pthread_mutex_lock(&lock);     \
        __typeof__(expr) r_ = (expr);  \
        pthread_mutex_unlock(&lock);   \
        r_;                            \
    })

static struct handle *H(struct fuse_file_info *fi) {
    return fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
}

static int ret(int r) { return r < 0 ? -errno : r; }

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
    if (H(fi)) return ret(fstat(H(fi)->fd, st));
    return ret(fstatat(rootfd, rel(path), st, AT_SYMLINK_NOFOLLOW));
}

static int fs_readlink(const char *path, char *buf, size_t size) {
    ssize_t n = readlinkat(rootfd, rel(path), buf, size - 1);
    if (n < 0) return -errno;
    buf[n] = 0;
    return 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags) {
    (void)off, (void)flags;
    struct dentry *es;
    size_t n;
    int r = H(fi) ? list_dir(H(fi)->fd, ".", &es, &n) : list_dir(rootfd, rel(path), &es, &n);
    if (r < 0) return r;
    fill(buf, ".", NULL, 0, 0);
    fill(buf, "..", NULL, 0, 0);
    for (size_t i = 0; i < n; i++) {
        fill(buf, es[i].name, NULL, 0, 0);
        free(es[i].name);
    }
    free(es);
    return 0;
}

static int check_fail(void) { return fail_errno ? -fail_errno : 0; }

/* A new inode at `path` (just created): nothing of it is durable yet. */
static void track_new(const char *path) {
    struct stat st;
    if (fstatat(rootfd, rel(path), &st, AT_SYMLINK_NOFOLLOW) == 0)
        new_node(st.st_ino, S_ISDIR(st.st_mode));
}

static void own(const char *path) {
    struct fuse_context *c = fuse_get_context();
    fchownat(rootfd, rel(path), c->uid, c->gid, AT_SYMLINK_NOFOLLOW);
}

static int do_mknod(const char *path, mode_t mode, dev_t dev) {
    if (check_fail()) return check_fail();
    track_parent(path);
    if (mknodat(rootfd, rel(path), mode, dev) < 0) return -errno;
    track_new(path);
    own(path);
    return 0;
}
static int fs_mknod(const char *path, mode_t mode, dev_t dev) {
    return LOCKED(do_mknod(path, mode, dev));
}

static int do_mkdir(const char *path, mode_t mode) {
    if (check_fail()) return check_fail();
    track_parent(path);
    if (mkdirat(rootfd, rel(path), mode) < 0) return -errno;
    track_new(path);
    own(path);
    return 0;
}
static int fs_mkdir(const char *path, mode_t mode) { return LOCKED(do_mkdir(path, mode)); }

static int do_symlink(const char *target, const char *path) {
    if (check_fail()) return check_fail();
    track_parent(path);
    if (symlinkat(target, rootfd, rel(path)) < 0) return -errno;
    track_new(path);
    own(path);
    return 0;
}
static int fs_symlink(const char *t, const char *p) { return LOCKED(do_symlink(t, p)); }

static int do_remove(const char *path) {
    track_parent(path);
    return to_trash(rel(path));
}
static int fs_unlink(const char *path) { return LOCKED(do_remove(path)); }
static int fs_rmdir(const char *path) { return LOCKED(do_remove(path)); }

static int do_rename(const char *from, const char *to, unsigned int flags) {
    struct stat st;
    if (flags & ~RENAME_NOREPLACE) return -EINVAL;
    if (fstatat(rootfd, rel(from), &st, AT_SYMLINK_NOFOLLOW) < 0) return -errno;
    uint64_t from_dir = track_parent(from), to_dir = track_parent(to);
    struct stat victim;
    if (fstatat(rootfd, rel(to), &victim, AT_SYMLINK_NOFOLLOW) == 0) {
        if (flags & RENAME_NOREPLACE) return -EEXIST;
        if (victim.st_ino == st.st_ino) return 0;
        if (S_ISDIR(victim.st_mode) != S_ISDIR(st.st_mode))
            return S_ISDIR(st.st_mode) ? -ENOTDIR : -EISDIR;
        int r = to_trash(rel(to));
        if (r < 0) return r;
    }
    if (renameat(rootfd, rel(from), rootfd, rel(to)) < 0) return -errno;
    tie(from_dir, to_dir);
    return 0;
}
static int fs_rename(const char *from, const char *to, unsigned int flags) {
    return LOCKED(do_rename(from, to, flags));
}

static int do_link(const char *from, const char *to) {
    track_parent(to);
    return ret(linkat(rootfd, rel(from), rootfd, rel(to), 0));
}
static int fs_link(const char *from, const char *to) { return LOCKED(do_link(from, to)); }

static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
    if (H(fi)) return ret(fchmod(H(fi)->fd, mode));
    return ret(fchmodat(rootfd, rel(path), mode, 0));
}

static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
    if (H(fi)) return ret(fchown(H(fi)->fd, uid, gid));
    return ret(fchownat(rootfd, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW));
}

/* Cut or extend the file open as `fd` to `size`, keeping what was durable. */
static int do_truncate_fd(int fd, off_t size) {
    if (check_fail()) return check_fail();
    struct stat st;
    if (fstat(fd, &st) < 0) return -errno;
    struct node *n = track_file(fd, st.st_ino);
    if (n) save_pages(n, fd, size, n->durable_size);
    return ret(ftruncate(fd, size));
}

static int do_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
    if (H(fi)) return do_truncate_fd(H(fi)->fd, size);
    int fd = openat(rootfd, rel(path), O_WRONLY | O_NOFOLLOW);
    if (fd < 0) return -errno;
    int r = do_truncate_fd(fd, size);
    close(fd);
    return r;
}
static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
    return LOCKED(do_truncate(path, size, fi));
}

static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
    if (H(fi)) return ret(futimens(H(fi)->fd, tv));
    return ret(utimensat(rootfd, rel(path), tv, AT_SYMLINK_NOFOLLOW));
}

static int open_handle(int fd, int flags, struct fuse_file_info *fi) {
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    struct handle *h = malloc(sizeof *h);
    if (!h) abort();
    h->fd = fd;
    h->ino = st.st_ino;
    h->sync = (flags & (O_SYNC | O_DSYNC)) != 0;
    fi->fh = (uintptr_t)h;
    return 0;
}

static int do_open(const char *path, struct fuse_file_info *fi) {
    int flags = fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_NOFOLLOW);
    if ((flags & O_TRUNC) && check_fail()) return check_fail();
    int fd = openat(rootfd, rel(path), (flags & ~O_TRUNC) | O_NOFOLLOW);
    if (fd < 0) return -errno;
    if (flags & O_TRUNC) {
        int r = do_truncate_fd(fd, 0);
        if (r < 0) {
            close(fd);
            return r;
        }
    }
    return open_handle(fd, flags, fi);
}
static int fs_open(const char *path, struct fuse_file_info *fi) {
    return LOCKED(do_open(path, fi));
}

static int do_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
    int fd = openat(rootfd, rel(path), O_RDWR | O_NOFOLLOW);
    if (fd >= 0) { /* O_CREAT of an existing file is an open */
        if (fi->flags & O_EXCL) {
            close(fd);
            return -EEXIST;
        }
        close(fd);
        return do_open(path, fi);
    }
    if (check_fail()) return check_fail();
    track_parent(path);
    int flags = (fi->flags | O_CREAT) & ~(O_TRUNC | O_NOFOLLOW);
    fd = openat(rootfd, rel(path), flags | O_NOFOLLOW, mode);
    if (fd < 0) return -errno;
    track_new(path);
    own(path);
    return open_handle(fd, flags, fi);
}
static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
    return LOCKED(do_create(path, mode, fi));
}

static int fs_read(const char *path, char *buf, size_t size, off_t off,
                   struct fuse_file_info *fi) {
    (void)path;
    return ret((int)pread(H(fi)->fd, buf, size, off));
}

static int do_write(struct handle *h, const char *buf, size_t size, off_t off) {
    if (check_fail()) return check_fail();
    struct node *n = track_file(h->fd, h->ino);
    if (n) save_pages(n, h->fd, off, off + (off_t)size);
    ssize_t w = pwrite(h->fd, buf, size, off);
    if (w < 0) return -errno;
    if (h->sync) make_file_durable(h->ino);
    return (int)w;
}
static int fs_write(const char *path, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi) {
    (void)path;
    return LOCKED(do_write(H(fi), buf, size, off));
}

static int fs_statfs(const char *path, struct statvfs *st) {
    (void)path;
    return ret(fstatvfs(rootfd, st));
}

static int fs_release(const char *path, struct fuse_file_info *fi) {
    (void)path;
    close(H(fi)->fd);
    free(H(fi));
    return 0;
}

static int do_fsync(struct handle *h, int datasync) {
    if (check_fail()) return check_fail();
    if ((datasync ? fdatasync(h->fd) : fsync(h->fd)) < 0) return -errno;
#ifdef FAULTFS_MUTANT_FDATASYNC
    if (datasync) return 0;
#endif
    make_file_durable(h->ino);
    return 0;
}
static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
    (void)path;
    return LOCKED(do_fsync(H(fi), datasync));
}

static int fs_opendir(const char *path, struct fuse_file_info *fi) {
    int fd = openat(rootfd, rel(path), O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -errno;
    return open_handle(fd, 0, fi);
}

static int do_fsyncdir(struct handle *h) {
    if (check_fail()) return check_fail();
    if (fsync(h->fd) < 0) return -errno;
    make_dir_durable(h->fd);
    return 0;
}
static int fs_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi) {
    (void)path, (void)datasync;
    return LOCKED(do_fsyncdir(H(fi)));
}

static int fs_access(const char *path, int mask) {
    return ret(faccessat(rootfd, rel(path), mask, AT_SYMLINK_NOFOLLOW));
}

static int do_fallocate(struct handle *h, int mode, off_t off, off_t len) {
    if (check_fail()) return check_fail();
    struct node *n = track_file(h->fd, h->ino);
    if (n) save_pages(n, h->fd, off, off + len);
    return ret(fallocate(h->fd, mode, off, len));
}
static int fs_fallocate(const char *path, int mode, off_t off, off_t len,
                        struct fuse_file_info *fi) {
    (void)path;
    return LOCKED(do_fallocate(H(fi), mode, off, len));
}

static off_t fs_lseek(const char *path, off_t off, int whence, struct fuse_file_info *fi) {
    (void)path;
    off_t r = lseek(H(fi)->fd, off, whence);
    return r < 0 ? -errno : r;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
    (void)conn;
    /* no caching of names or attributes: after a drop the tree changes under the kernel */
    cfg->entry_timeout = 0;
    cfg->attr_timeout = 0;
    cfg->negative_timeout = 0;
    cfg->hard_remove = 1;
    cfg->nullpath_ok = 1;
    return NULL;
}

static const struct fuse_operations ops = {
    .init = fs_init,
    .getattr = fs_getattr,
    .readlink = fs_readlink,
    .mknod = fs_mknod,
    .mkdir = fs_mkdir,
    .symlink = fs_symlink,
    .unlink = fs_unlink,
    .rmdir = fs_rmdir,
    .rename = fs_rename,
    .link = fs_link,
    .chmod = fs_chmod,
    .chown = fs_chown,
    .truncate = fs_truncate,
    .utimens = fs_utimens,
    .open = fs_open,
    .create = fs_create,
    .read = fs_read,
    .write = fs_write,
    .statfs = fs_statfs,
    .release = fs_release,
    .releasedir = fs_release,
    .fsync = fs_fsync,
    .opendir = fs_opendir,
    .readdir = fs_readdir,
    .fsyncdir = fs_fsyncdir,
    .access = fs_access,
    .fallocate = fs_fallocate,
    .lseek = fs_lseek,
};

/* ---- the control socket: BACKING/ctl, one command per connection ---- */
static void pending(long *files, long *bytes, long *dirs) {
    *files = *bytes = *dirs = 0;
    for (size_t i = 0; i < nodes.cap; i++) {
        struct node *n = nodes.vals[i];
        if (!n) continue;
        if (n->is_dir) {
            (*dirs)++;
        } else {
            (*files)++;
            *bytes += (long)n->pages.len * PAGE;
        }
    }
}

static void answer(int c, const char *cmd) {
    char out[256];
    pthread_mutex_lock(&lock);
    if (!strcmp(cmd, "drop")) {
        struct drop_stats s = drop_unsynced();
        snprintf(out, sizeof out,
                 "dropped: %ld files rolled back (%ld bytes past their durable size, %ld "
                 "pages rewritten), %ld directories restored, %ld inodes deleted\n",
                 s.files, s.bytes, s.pages, s.entries, s.deleted);
    } else if (!strcmp(cmd, "stats")) {
        long f, b, d;
        pending(&f, &b, &d);
        snprintf(out, sizeof out, "pending: %ld files, %ld saved bytes, %ld directories%s%s\n",
                 f, b, d, fail_errno ? ", failing with " : "",
                 fail_errno ? strerrorname_np(fail_errno) : "");
    } else if (!strcmp(cmd, "sync")) {
        map_clear(&nodes, free_node);
        n_ties = 0;
        snprintf(out, sizeof out, "synced\n");
    } else if (!strcmp(cmd, "fail EIO") || !strcmp(cmd, "fail ENOSPC")) {
        fail_errno = strcmp(cmd, "fail EIO") ? ENOSPC : EIO;
        snprintf(out, sizeof out, "failing writes and fsyncs with %s\n", cmd + 5);
    } else if (!strcmp(cmd, "heal")) {
        fail_errno = 0;
        snprintf(out, sizeof out, "healed\n");
    } else if (!strcmp(cmd, "ping")) {
        snprintf(out, sizeof out, "pong\n");
    } else {
        snprintf(out, sizeof out, "error: unknown command %.64s\n", cmd);
    }
    pthread_mutex_unlock(&lock);
    if (write(c, out, strlen(out)) < 0) return;
}

static void ctl_path(const char *base, struct sockaddr_un *a) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (snprintf(a->sun_path, sizeof a->sun_path, "%s/ctl", base) >= (int)sizeof a->sun_path)
        a->sun_path[0] = 0; /* too long for a socket path: bind and connect fail */
}

static void *serve_ctl(void *arg) {
    int s = (int)(intptr_t)arg;
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) continue;
        char cmd[128];
        ssize_t n = read(c, cmd, sizeof cmd - 1);
        if (n > 0) {
            cmd[n] = 0;
            cmd[strcspn(cmd, "\r\n")] = 0;
            answer(c, cmd);
        }
        close(c);
    }
    return NULL;
}

static int ctl(const char *base, const char *cmd) {
    struct sockaddr_un a;
    ctl_path(base, &a);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0) {
        fprintf(stderr, "faultline-fs: %s: %s\n", a.sun_path, strerror(errno));
        return 1;
    }
    if (write(c, cmd, strlen(cmd)) < 0) return 1;
    shutdown(c, SHUT_WR);
    char buf[512];
    ssize_t n, total = 0;
    while ((n = read(c, buf, sizeof buf)) > 0) {
        fwrite(buf, 1, (size_t)n, stdout);
        total += n;
    }
    close(c);
    return total > 0 && strncmp(buf, "error", 5) ? 0 : 1;
}

static int die(const char *what) {
    fprintf(stderr, "faultline-fs: %s: %s\n", what, strerror(errno));
    return 1;
}

static int mount_fs(const char *base, const char *mountpoint) {
    char path[PATH_MAX + 16];
    if (!realpath(base, backing)) return die(base);
    snprintf(path, sizeof path, "%s/root", backing);
    mkdir(path, 0755);
    if ((rootfd = open(path, O_RDONLY | O_DIRECTORY)) < 0) return die(path);
    snprintf(path, sizeof path, "%s/trash", backing);
    mkdir(path, 0700);
    if ((trashfd = open(path, O_RDONLY | O_DIRECTORY)) < 0) return die(path);
    struct sockaddr_un a;
    ctl_path(backing, &a);
    unlink(a.sun_path);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 8) < 0)
        return die(a.sun_path);
    char *argv[] = {"faultline-fs", "-o", "allow_other,fsname=faultline-fs,subtype=faultline",
                    NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, argv);
    struct fuse *f = fuse_new(&args, &ops, sizeof ops, NULL);
    if (!f) return 1;
    if (fuse_mount(f, mountpoint) != 0) return 1;
    if (fuse_daemonize(getenv("FAULTFS_FOREGROUND") != NULL) != 0) return 1;
    pthread_t t;
    pthread_create(&t, NULL, serve_ctl, (void *)(intptr_t)s);
    struct fuse_session *se = fuse_get_session(f);
    if (fuse_set_signal_handlers(se) != 0) return 1;
    struct fuse_loop_config cfg = {.clone_fd = 0, .max_idle_threads = 10};
    int r = fuse_loop_mt(f, &cfg);
    fuse_remove_signal_handlers(se);
    fuse_unmount(f);
    fuse_destroy(f);
    unlink(a.sun_path);
    return r ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "mount")) return mount_fs(argv[2], argv[3]);
    if (argc >= 4 && !strcmp(argv[1], "ctl")) {
        char cmd[128] = "";
        for (int i = 3; i < argc; i++)
            snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), "%s%s", i > 3 ? " " : "",
                     argv[i]);
        return ctl(argv[2], cmd);
    }
    fprintf(stderr,
            "usage: faultline-fs mount BACKING MOUNTPOINT\n"
            "       faultline-fs ctl BACKING drop|stats|sync|fail EIO|fail ENOSPC|heal|ping\n");
    return 2;
}
