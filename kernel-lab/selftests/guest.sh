#!/bin/sh
# kernel-lab/selftests/guest.sh TEST_BINARY — runs inside the lab guest (kernel-lab/boot
# passes the static test_zswap binary as /lab/input). The guest's init has mounted
# cgroup2 (with +memory in the root's subtree_control), debugfs and swapped on the swap
# disk; what test_zswap needs beyond that is zswap itself, enabled here with the kernel's
# other zswap defaults untouched. Prints the test's TAP output, framed by "# lab:" lines
# the host script (selftests/run) reads back.
[ "$KERNEL_LAB_GUEST" = 1 ] || { echo "guest.sh: not in the kernel-lab guest, refusing to touch zswap" >&2; exit 2; }
[ -n "$1" ] && [ -f "$1" ] || { echo "usage: guest.sh TEST_BINARY" >&2; exit 2; }
cp "$1" /tmp/test_zswap && chmod 755 /tmp/test_zswap || exit 2

echo Y > /sys/module/zswap/parameters/enabled || { echo "cannot enable zswap" >&2; exit 2; }

echo "# lab: kernel $(uname -r)"
for p in /sys/module/zswap/parameters/*; do echo "# lab: zswap.${p##*/} $(cat "$p")"; done
echo "# lab: lru_gen $(cat /sys/kernel/mm/lru_gen/enabled 2>/dev/null)"
echo "# lab: memtotal_kb $(awk '/MemTotal/{print $2}' /proc/meminfo)"
echo "# lab: swap $(awk 'NR>1{print $1, $3, $4}' /proc/swaps | tr '\n' ' ')"
echo "# lab: subtree_control $(cat /sys/fs/cgroup/cgroup.subtree_control)"
t0=$(cut -d' ' -f1 /proc/uptime)
/tmp/test_zswap
rc=$?
t1=$(cut -d' ' -f1 /proc/uptime)
echo "# lab: exit $rc"
echo "# lab: seconds $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')"
# The verdicts are the TAP lines; a failing case is a result, not a failed boot.
exit 0
