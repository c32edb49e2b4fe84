# Timing helpers of the benchmark scripts (sourced by benches/run.sh and benches/quic.sh, which
# set `dir`, where the scratch file t.one goes).

# Appends "wall_s user_s sys_s maxrss_kib" of one command to file $1.
measure() {
    local out="$1"; shift
    /usr/bin/time -o "$dir/t.one" -f "%e %U %S %M" "$@" >/dev/null 2>&1 || true
    grep -E "^[0-9]" "$dir/t.one" >>"$out" # not the "exited with status N" line
}
# Median of the numbers on stdin, one a line.
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# Median of awk expression $1 (e.g. '$2+$3') over the lines of file $2.
col() { awk "{print $1}" "$2" | median; }
