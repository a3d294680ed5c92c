# llmos: sourced by every bash the Claude Code CLI starts in a Learner run (BASH_ENV), so
# that the commands in the CLI's sandbox get the limits llmos's own sandbox sets: processes,
# CPU time per process, file size, no core dumps (llmos/_internal/security/sandbox.py). Hard limits:
# a command cannot raise them again. A limit the user's shell already keeps lower stays so.
if [ -n "${LLMOS_SANDBOX_PROCESSES:-}" ]; then
    ulimit -S -H -u "$LLMOS_SANDBOX_PROCESSES" 2>/dev/null
    ulimit -S -H -t "$LLMOS_SANDBOX_CPU_SECS" 2>/dev/null
    ulimit -S -H -f "$LLMOS_SANDBOX_FILE_KB" 2>/dev/null
    ulimit -S -H -c 0 2>/dev/null
    # As root, RLIMIT_NPROC binds nobody: the sandbox's PID namespace gets a pid_max
    # instead (kernel 6.14 or later). Never in llmos's own PID namespace, where pid_max
    # would be the whole machine's.
    if [ -n "${LLMOS_SANDBOX_PID_MAX:-}" ] && [ -n "${LLMOS_HOST_PIDNS:-}" ] && [ -w /proc/sys/kernel/pid_max ] &&
        [ "$(readlink /proc/self/ns/pid 2>/dev/null)" != "${LLMOS_HOST_PIDNS:-}" ]; then
        read -r _llmos_pid_max </proc/sys/kernel/pid_max 2>/dev/null
        if [ "${_llmos_pid_max:-0}" -gt "$LLMOS_SANDBOX_PID_MAX" ] 2>/dev/null; then
            echo "$LLMOS_SANDBOX_PID_MAX" >/proc/sys/kernel/pid_max 2>/dev/null
        fi
        unset _llmos_pid_max
    fi
fi
