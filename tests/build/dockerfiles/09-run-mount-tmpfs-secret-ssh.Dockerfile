FROM busybox
RUN --mount=type=tmpfs,target=/scratch,size=64m touch /scratch/x
RUN --mount=type=secret,id=token,required --mount=type=secret,id=other,target=/run/secrets/o,mode=0400 true
RUN --mount=type=ssh,id=default,required=false true
RUN --mount=type=secret,id=envtok,env=TOKEN true
