from busybox as base
run echo lower
Env k=v
From base
copy --from=base /bin/true /t
