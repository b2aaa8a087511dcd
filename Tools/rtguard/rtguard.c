// rtguard: an LD_PRELOAD shim that counts heap calls made by a thread while it is inside a
// realtime region, bracketed by rtguard_enter()/rtguard_leave(). meltap looks these up with
// dlsym(RTLD_DEFAULT, ...) at setup and calls them around every JACK realtime callback; without
// the shim they are absent and nothing is called.
//
// Grown from a 44-line reference shim in the meltap design notes (malloc/free counting only), with
// memalign/valloc added. Build:  cc -O2 -shared -fPIC -o librtguard.so Tools/rtguard/rtguard.c
// Use:    LD_PRELOAD=$PWD/librtguard.so meltap run ...   (meltap prints the counts at exit)
// Set RTGUARD_ABORT=1 to abort with a backtrace at the first heap call in a realtime region.
//
// It also counts, inside realtime regions, the calls that can block or enter the kernel:
// sem_post (the one meltap allows: at most one per callback, to wake a sleeping consumer; the
// largest number in one region is kept), mutex and condition-variable calls, and the libc
// wrappers of common system calls (write, read, futex through syscall(), nanosleep, usleep,
// sem_wait, sched_yield). meltap prints these on a second "rtguard:" line at exit.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>
#include <execinfo.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void  __libc_free(void *);

static __thread int in_rt;          // this thread is inside a realtime region
static __thread long region_posts;  // sem_post calls in the current region
static atomic_long n_alloc, n_free; // heap calls seen inside realtime regions, all threads
static atomic_long n_regions;       // regions entered (shows the hooks were called at all)
static atomic_long n_posts, n_max_posts; // sem_post calls in regions; most in one region
static atomic_long n_locks;         // mutex / rwlock / condition-variable calls in regions
static atomic_long n_syscalls;      // other system-call wrappers called in regions
static int abort_on_alloc = -1;     // RTGUARD_ABORT=1, read once

static void hit(atomic_long *counter) {
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
    if (abort_on_alloc < 0) {
        const char *e = getenv("RTGUARD_ABORT");
        abort_on_alloc = e && *e == '1';
    }
    if (abort_on_alloc) {
        in_rt = 0;
        static const char m[] = "rtguard: heap call inside realtime region\n";
        write(2, m, sizeof m - 1);
        void *bt[32];
        int n = backtrace(bt, 32);
        backtrace_symbols_fd(bt, n, 2);
        abort();
    }
}

void *malloc(size_t n)           { if (in_rt) hit(&n_alloc); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { if (in_rt) hit(&n_alloc); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { if (in_rt) hit(&n_alloc); return __libc_realloc(p, n); }
void  free(void *p)              { if (in_rt && p) hit(&n_free); __libc_free(p); }
int posix_memalign(void **r, size_t al, size_t n) {
    if (in_rt) hit(&n_alloc);
    void *p = __libc_memalign(al, n);
    if (!p) return 12; // ENOMEM
    *r = p;
    return 0;
}
void *aligned_alloc(size_t al, size_t n) { if (in_rt) hit(&n_alloc); return __libc_memalign(al, n); }
void *memalign(size_t al, size_t n)      { if (in_rt) hit(&n_alloc); return __libc_memalign(al, n); }
void *valloc(size_t n) {
    if (in_rt) hit(&n_alloc);
    return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), n);
}

// Calls that block or enter the kernel: counted inside regions, then forwarded to libc. The
// libc entry points are looked up once, in the constructor, so that no lookup (which may
// allocate) happens inside a region; a call made before the constructor ran looks up lazily.
#define REAL(name) static __typeof__(&name) real_##name
static void *lookup(void **slot, const char *name) {
    if (!*slot) *slot = dlsym(RTLD_NEXT, name);
    return *slot;
}
#define RESOLVE(name) ((__typeof__(&name))lookup((void **)&real_##name, #name))
#define COUNT(counter) do { if (in_rt) atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed); } while (0)
REAL(sem_post); REAL(sem_wait); REAL(pthread_mutex_lock); REAL(pthread_mutex_trylock);
REAL(pthread_rwlock_rdlock); REAL(pthread_rwlock_wrlock); REAL(pthread_cond_signal);
REAL(pthread_cond_broadcast); REAL(pthread_cond_wait); REAL(write); REAL(read); REAL(nanosleep);
REAL(usleep); REAL(sched_yield); REAL(syscall);

__attribute__((constructor)) static void rtguard_resolve(void) {
    RESOLVE(sem_post); RESOLVE(sem_wait); RESOLVE(pthread_mutex_lock); RESOLVE(pthread_mutex_trylock);
    RESOLVE(pthread_rwlock_rdlock); RESOLVE(pthread_rwlock_wrlock); RESOLVE(pthread_cond_signal);
    RESOLVE(pthread_cond_broadcast); RESOLVE(pthread_cond_wait); RESOLVE(write); RESOLVE(read);
    RESOLVE(nanosleep); RESOLVE(usleep); RESOLVE(sched_yield); RESOLVE(syscall);
}

int sem_post(sem_t *s) {
    if (in_rt) { region_posts++; atomic_fetch_add_explicit(&n_posts, 1, memory_order_relaxed); }
    return RESOLVE(sem_post)(s);
}
int pthread_mutex_lock(pthread_mutex_t *m)     { COUNT(n_locks); return RESOLVE(pthread_mutex_lock)(m); }
int pthread_mutex_trylock(pthread_mutex_t *m)  { COUNT(n_locks); return RESOLVE(pthread_mutex_trylock)(m); }
int pthread_rwlock_rdlock(pthread_rwlock_t *l) { COUNT(n_locks); return RESOLVE(pthread_rwlock_rdlock)(l); }
int pthread_rwlock_wrlock(pthread_rwlock_t *l) { COUNT(n_locks); return RESOLVE(pthread_rwlock_wrlock)(l); }
int pthread_cond_signal(pthread_cond_t *c)     { COUNT(n_locks); return RESOLVE(pthread_cond_signal)(c); }
int pthread_cond_broadcast(pthread_cond_t *c)  { COUNT(n_locks); return RESOLVE(pthread_cond_broadcast)(c); }
int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) { COUNT(n_locks); return RESOLVE(pthread_cond_wait)(c, m); }
int sem_wait(sem_t *s)                         { COUNT(n_syscalls); return RESOLVE(sem_wait)(s); }
ssize_t write(int fd, const void *b, size_t n) { COUNT(n_syscalls); return RESOLVE(write)(fd, b, n); }
ssize_t read(int fd, void *b, size_t n)        { COUNT(n_syscalls); return RESOLVE(read)(fd, b, n); }
int nanosleep(const struct timespec *a, struct timespec *b) { COUNT(n_syscalls); return RESOLVE(nanosleep)(a, b); }
int usleep(useconds_t u)                       { COUNT(n_syscalls); return RESOLVE(usleep)(u); }
int sched_yield(void)                          { COUNT(n_syscalls); return RESOLVE(sched_yield)(); }
long syscall(long number, ...) {
    COUNT(n_syscalls);
    va_list ap;
    va_start(ap, number);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
    long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    return RESOLVE(syscall)(number, a, b, c, d, e, f);
}

void rtguard_enter(void) {
    in_rt = 1;
    region_posts = 0;
    atomic_fetch_add_explicit(&n_regions, 1, memory_order_relaxed);
}
void rtguard_leave(void) {
    in_rt = 0;
    long seen = atomic_load_explicit(&n_max_posts, memory_order_relaxed);
    while (region_posts > seen &&
           !atomic_compare_exchange_weak_explicit(&n_max_posts, &seen, region_posts,
                                                  memory_order_relaxed, memory_order_relaxed)) {}
}
long rtguard_allocs(void)  { return atomic_load(&n_alloc); }
long rtguard_frees(void)   { return atomic_load(&n_free); }
long rtguard_regions(void) { return atomic_load(&n_regions); }
long rtguard_posts(void)     { return atomic_load(&n_posts); }
long rtguard_max_posts(void) { return atomic_load(&n_max_posts); }
long rtguard_locks(void)     { return atomic_load(&n_locks); }
long rtguard_syscalls(void)  { return atomic_load(&n_syscalls); }

// With RTGUARD_REPORT=1, print every count at exit (for programs that do not print them).
__attribute__((destructor)) static void rtguard_report(void) {
    const char *e = getenv("RTGUARD_REPORT");
    if (!e || *e != '1') return;
    char line[256];
    int n = snprintf(line, sizeof line,
                     "rtguard: regions %ld, allocations %ld, frees %ld, sem_post %ld (at most %ld in one), "
                     "locks %ld, other system calls %ld\n",
                     rtguard_regions(), rtguard_allocs(), rtguard_frees(), rtguard_posts(), rtguard_max_posts(),
                     rtguard_locks(), rtguard_syscalls());
    if (n > 0) RESOLVE(write)(2, line, (size_t)n);
}
