#include <soxr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* usage: soxrtest in.f32 out.f32 inrate outrate block prefix */
int main(int c, char**v){
  FILE*f=fopen(v[1],"rb"); fseek(f,0,SEEK_END); long n=ftell(f)/4; rewind(f);
  long prefix=atol(v[6]);
  float*x=calloc(n+prefix,4); fread(x+prefix,4,n,f); fclose(f); n+=prefix;
  double ir=atof(v[3]), orr=atof(v[4]); long block=atol(v[5]);
  soxr_error_t e; soxr_quality_spec_t q=soxr_quality_spec(SOXR_HQ,0); soxr_runtime_spec_t r=soxr_runtime_spec(1);
  soxr_t s=soxr_create(ir,orr,1,&e,NULL,&q,&r);
  float*y=malloc(4*(n+100000)); size_t total=0; size_t odone;
  for(long i=0;i<n;i+=block){ long b= i+block<=n?block:n-i; size_t idone; soxr_process(s,x+i,b,&idone,y+total,100000,&odone); total+=odone; if(idone!=(size_t)b) fprintf(stderr,"short\n");}
  do { soxr_process(s,NULL,0,NULL,y+total,100000,&odone); total+=odone;} while(odone>0);
  FILE*o=fopen(v[2],"wb"); fwrite(y,4,total,o); fclose(o); fprintf(stderr,"out %zu delay %f\n",total,soxr_delay(s)); return 0;}
