#include <soxr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
extern void *__libc_malloc(size_t); extern void *__libc_realloc(void*,size_t); extern void *__libc_calloc(size_t,size_t); extern void __libc_free(void*);
static int counting=0; static long calls=0;
void *malloc(size_t n){ if(counting) calls++; return __libc_malloc(n);} 
void *realloc(void*p,size_t n){ if(counting) calls++; return __libc_realloc(p,n);} 
void *calloc(size_t a,size_t b){ if(counting) calls++; return __libc_calloc(a,b);} 
void free(void*p){ if(counting&&p) calls++; __libc_free(p);} 
/* usage: soxralloc inrate outrate warmblock warmcount block1 block2 ... : counts heap calls while processing 20000 blocks of random sizes among given */
int main(int c,char**v){
  double ir=atof(v[1]),orr=atof(v[2]); long wb=atol(v[3]), wc=atol(v[4]);
  soxr_error_t e; soxr_quality_spec_t q=soxr_quality_spec(SOXR_HQ,0); soxr_runtime_spec_t r=soxr_runtime_spec(1);
  soxr_t s=soxr_create(ir,orr,1,&e,NULL,&q,&r);
  static float x[16384], y[16384]; size_t idone,odone;
  for(long i=0;i<wc;i++){ long b = wb>0 ? wb : (8192>>((i*2654435761u>>9)%10)); soxr_process(s,x,b,&idone,y,16384,&odone);} 
  int nb=c-5; long sizes[16]; for(int i=0;i<nb;i++) sizes[i]=atol(v[5+i]);
  for(int i=0;i<16384;i++) x[i]=(float)((i*7919)%1000)/1000.0f-0.5f;
  counting=1;
  for(long k=0;k<20000;k++){ long b=sizes[(k*2654435761u>>7)%nb]; soxr_process(s,x,b,&idone,y,16384,&odone); if(idone!=(size_t)b) {counting=0; fprintf(stderr,"short %zu/%ld\n",idone,b); counting=1;} }
  counting=0; printf("heap calls after warm-up (%ld x %ld): %ld\n",wc,wb,calls); return 0; }
