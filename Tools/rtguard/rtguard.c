// rtguard: an LD_PRELOAD shim that counts heap calls made by a thread while it is inside a
// realtime region, bracketed by rtguard_enter()/rtguard_leave(). meltap looks these up with
// dlsym(RTLD_DEFAULT, ...) at setup and calls them around every JACK realtime callback; without
// the shim they are absent and nothing is called.
//
// After the reference shim in the meltap design notes (shared/tools/rtguard.c, 44 lines), with
// memalign/valloc added. Build:  cc -O2 -shared -fPIC -o librtguard.so Tools/rtguard/rtguard.c
// Use:    LD_PRELOAD=$PWD/librtguard.so meltap run ...   (meltap prints the counts at exit)
// Set RTGUARD_ABORT=1 to abort with a backtrace at the first heap call in a realtime region.
#define _GNU_SOURCE
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
static atomic_long n_alloc, n_free; // heap calls seen inside realtime regions, all threads
static atomic_long n_regions;       // regions entered (shows the hooks were called at all)
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

void rtguard_enter(void) { in_rt = 1; atomic_fetch_add_explicit(&n_regions, 1, memory_order_relaxed); }
void rtguard_leave(void) { in_rt = 0; }
long rtguard_allocs(void)  { return atomic_load(&n_alloc); }
long rtguard_frees(void)   { return atomic_load(&n_free); }
long rtguard_regions(void) { return atomic_load(&n_regions); }
