/*
 * bench-disk: the physical limit of durable appends on this disk, for scripts/bench.
 *
 * T threads each append fixed-size records (100 bytes by default) to a file and make every
 * record durable with fdatasync before counting it, for a given time. Three modes:
 *
 *   separate  each thread has its own file: one thread gives the single-file fdatasync rate,
 *             the most a single log (one hot aggregate) can do without group commit; 64 threads
 *             show how far the disk scales with independent logs.
 *   shared    all threads append to one file (O_APPEND), each syncing its own record: what a
 *             shared log without group commit gets (the syncs serialize in the kernel).
 *   group     all threads hand records to one shared log with group commit: whoever finds no
 *             flush in progress becomes the leader, writes everything queued with one write,
 *             syncs once and wakes the writers of that batch. The limit of a shared commit log.
 *
 * Records are written with pwrite at the offset each log tracks (shared: reserved atomically).
 * With --preallocate MIB every log is first filled with MIB MiB of zeros and fdatasynced, before
 * the clock starts, so the appends land in blocks that exist and hold data: what Sourced's
 * global log does (docs/storage-format.md, "Preallocated space"). Without it every append grows
 * the file, and its fdatasync also writes the new size and block map.
 *
 * Latency is per record, from the moment its thread wants to append it until it is durable.
 * Output: one JSON object on stdout.
 *
 *   gcc -O2 -pthread -o bench-disk scripts/bench-disk.c
 *   ./bench-disk --mode separate --threads 1 --duration 10 --dir /var/tmp/x
 *   ./bench-disk --mode separate --threads 1 --duration 10 --dir /var/tmp/x --preallocate 64
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum mode { SEPARATE, SHARED, GROUP };

static enum mode mode = SEPARATE;
static int threads = 1;
static double duration = 10;
static size_t record_size = 100;
static const char *dir = ".";
static size_t preallocate_mib = 0;
static uint64_t deadline_ns;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "bench-disk: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Growable array of latencies in nanoseconds, one per thread (no sharing while measuring). */
struct samples {
    uint64_t *values;
    size_t count, capacity;
};

static void add_sample(struct samples *s, uint64_t value) {
    if (s->count == s->capacity) {
        s->capacity = s->capacity ? s->capacity * 2 : 4096;
        s->values = realloc(s->values, s->capacity * sizeof *s->values);
        if (!s->values) die("realloc");
    }
    s->values[s->count++] = value;
}

static void write_all(int fd, const char *buffer, size_t length, off_t offset) {
    while (length > 0) {
        ssize_t n = pwrite(fd, buffer, length, offset);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("pwrite");
        }
        buffer += n;
        length -= (size_t)n;
        offset += n;
    }
}

/* Creates (empty) the log `name`; with --preallocate, zero-fills it and makes the zeros durable. */
static int open_log(const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) die(path);
    if (preallocate_mib > 0) {
        static const char zeros[1 << 20];
        for (size_t i = 0; i < preallocate_mib; i++) write_all(fd, zeros, sizeof zeros, (off_t)(i << 20));
        if (fdatasync(fd) != 0) die("fdatasync");
    }
    return fd;
}

/* Group commit state (mode GROUP). Records queue in `pending`; batches are numbered. */
static pthread_mutex_t group_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t group_done = PTHREAD_COND_INITIALIZER;
static int group_fd = -1;
static char *pending;          /* queued records, threads * record_size bytes at most */
static size_t pending_count;   /* records queued for the next batch */
static uint64_t next_batch;    /* batch the queued records belong to */
static uint64_t durable_batch; /* batches up to (excluding) this one are durable */
static int flushing;
static uint64_t group_syncs;
static off_t group_end;        /* the group log's length; only the leader writes */

/* Appends one record to the group-committed log and returns once it is durable. */
static void group_append(const char *record) {
    pthread_mutex_lock(&group_lock);
    memcpy(pending + pending_count * record_size, record, record_size);
    pending_count++;
    uint64_t mine = next_batch;
    while (durable_batch <= mine) {
        if (!flushing) {
            /* Become the leader: take the whole queue (ours included) as one batch. */
            flushing = 1;
            size_t count = pending_count;
            uint64_t batch = next_batch;
            char *buffer = malloc(count * record_size);
            if (!buffer) die("malloc");
            memcpy(buffer, pending, count * record_size);
            pending_count = 0;
            next_batch++;
            pthread_mutex_unlock(&group_lock);
            write_all(group_fd, buffer, count * record_size, group_end);
            group_end += (off_t)(count * record_size);
            if (fdatasync(group_fd) != 0) die("fdatasync");
            free(buffer);
            pthread_mutex_lock(&group_lock);
            durable_batch = batch + 1;
            group_syncs++;
            flushing = 0;
            pthread_cond_broadcast(&group_done);
        } else {
            pthread_cond_wait(&group_done, &group_lock);
        }
    }
    pthread_mutex_unlock(&group_lock);
}

static int shared_fd = -1;
static off_t shared_end;       /* the shared log's length; each append reserves its bytes atomically */

struct worker {
    pthread_t thread;
    int index;
    struct samples latency;
    uint64_t syncs;
};

static void *run_worker(void *argument) {
    struct worker *w = argument;
    char *record = malloc(record_size);
    if (!record) die("malloc");
    memset(record, 'x', record_size);
    record[record_size - 1] = '\n';
    int fd = -1;
    off_t end = 0;
    if (mode == SEPARATE) {
        char name[64];
        snprintf(name, sizeof name, "log-%d", w->index);
        fd = open_log(name);
    } else if (mode == SHARED) {
        fd = shared_fd;
    }
    for (;;) {
        uint64_t start = now_ns();
        if (start >= deadline_ns) break;
        if (mode == GROUP) {
            group_append(record);
        } else {
            off_t offset = mode == SHARED ? __atomic_fetch_add(&shared_end, (off_t)record_size, __ATOMIC_RELAXED) : end;
            write_all(fd, record, record_size, offset);
            end = offset + (off_t)record_size;
            if (fdatasync(fd) != 0) die("fdatasync");
            w->syncs++;
        }
        add_sample(&w->latency, now_ns() - start);
    }
    if (mode == SEPARATE) close(fd);
    free(record);
    return NULL;
}

static int compare(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double percentile_ms(const uint64_t *sorted, size_t count, double p) {
    if (count == 0) return 0;
    size_t rank = (size_t)(p / 100.0 * (double)count + 0.5);
    if (rank < 1) rank = 1;
    if (rank > count) rank = count;
    return (double)sorted[rank - 1] / 1e6;
}

static void usage(void) {
    fprintf(stderr,
            "usage: bench-disk [--mode separate|shared|group] [--threads N] [--duration S]\n"
            "                  [--record-size BYTES] [--dir DIR] [--preallocate MIB]\n");
    exit(2);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *option = argv[i];
        if (i + 1 >= argc) usage();
        const char *value = argv[++i];
        if (!strcmp(option, "--mode")) {
            if (!strcmp(value, "separate")) mode = SEPARATE;
            else if (!strcmp(value, "shared")) mode = SHARED;
            else if (!strcmp(value, "group")) mode = GROUP;
            else usage();
        } else if (!strcmp(option, "--threads")) {
            threads = atoi(value);
        } else if (!strcmp(option, "--duration")) {
            duration = atof(value);
        } else if (!strcmp(option, "--record-size")) {
            record_size = (size_t)atol(value);
        } else if (!strcmp(option, "--dir")) {
            dir = value;
        } else if (!strcmp(option, "--preallocate")) {
            preallocate_mib = (size_t)atol(value);
        } else {
            usage();
        }
    }
    if (threads < 1 || duration <= 0 || record_size < 1) usage();

    if (mode == SHARED) shared_fd = open_log("shared");
    if (mode == GROUP) {
        group_fd = open_log("group");
        pending = malloc((size_t)threads * record_size);
        if (!pending) die("malloc");
    }

    struct worker *workers = calloc((size_t)threads, sizeof *workers);
    if (!workers) die("calloc");
    uint64_t started = now_ns();
    deadline_ns = started + (uint64_t)(duration * 1e9);
    for (int i = 0; i < threads; i++) {
        workers[i].index = i;
        if (pthread_create(&workers[i].thread, NULL, run_worker, &workers[i]) != 0) die("pthread_create");
    }
    size_t total = 0;
    uint64_t syncs = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(workers[i].thread, NULL);
        total += workers[i].latency.count;
        syncs += workers[i].syncs;
    }
    double seconds = (double)(now_ns() - started) / 1e9;
    if (mode == GROUP) syncs = group_syncs;

    uint64_t *all = malloc((total ? total : 1) * sizeof *all);
    if (!all) die("malloc");
    size_t at = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all + at, workers[i].latency.values, workers[i].latency.count * sizeof *all);
        at += workers[i].latency.count;
        free(workers[i].latency.values);
    }
    qsort(all, total, sizeof *all, compare);

    static const char *names[] = {"separate", "shared", "group"};
    printf("{\"mode\":\"%s\",\"threads\":%d,\"record_size\":%zu,\"preallocate_mib\":%zu,\"seconds\":%.3f,"
           "\"records\":%zu,\"syncs\":%llu,\"records_per_second\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"max_ms\":%.3f}\n",
           names[mode], threads, record_size, preallocate_mib, seconds, total, (unsigned long long)syncs,
           seconds > 0 ? (double)total / seconds : 0, percentile_ms(all, total, 50),
           percentile_ms(all, total, 99), total ? (double)all[total - 1] / 1e6 : 0);
    free(all);
    free(workers);
    return 0;
}
