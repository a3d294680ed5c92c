"""The sandbox profile and the argv built from it (pure functions), the settings that choose
it, and the canaries that say whether this machine can sandbox at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Sandbox, run_llmos

from llmos._internal.errors import UsageError
from llmos._internal.security.policy_file import load_policy
from llmos._internal.security.sandbox import (
    HostFacts,
    Limits,
    SandboxProfile,
    build_profile,
    bwrap_argv,
    is_secret_variable,
    sandbox_env,
    sandboxed_argv,
)
from llmos._internal.security.sandbox_cli import CliFolder, cli_env, cli_settings
from llmos._internal.security.sandbox_probe import install_hint, replay_sandbox, run_sandboxed
from llmos._internal.workspace import Settings

ROOT_NEW_KERNEL = HostFacts(
    "/usr/bin/bwrap", "/usr/bin/setpriv", "/usr/bin/mount", True, True, False
)
ROOT_OLD_KERNEL = HostFacts(
    "/usr/bin/bwrap", "/usr/bin/setpriv", "/usr/bin/mount", True, False, True
)
USER = HostFacts("/usr/bin/bwrap", "/usr/bin/setpriv", "/usr/bin/mount", False, True, False)


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    for folder in (".ssh", ".aws", ".gnupg", ".config/gh", "notes", "Documents"):
        (home / folder).mkdir(parents=True, exist_ok=True)
    (home / ".netrc").write_text("machine x login y password z\n")
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text("{}")
    return home


def test_the_profile_writes_only_the_working_folder_and_allowed_plain_paths(
    tmp_path: Path,
) -> None:
    home, work = _home(tmp_path), tmp_path / "work"
    work.mkdir()
    profile = build_profile(
        work,
        home=home,
        allowed_paths=["~/notes", "~/Documents/**", "~/projects/*/build", "/nonexistent"],
        env={},
    )
    assert profile.workdir == work.resolve()
    # A folder pattern becomes the folder; a pattern with a glob in the middle and a path
    # that does not exist are not bound (the sandbox binds folders, not patterns).
    assert profile.writable == ((home / "notes").resolve(), (home / "Documents").resolve())
    hidden = {
        p.relative_to(home.resolve()).as_posix()
        for p in profile.hidden
        if p.is_relative_to(home.resolve())
    }
    assert Path("/etc/shadow") in profile.hidden or not Path("/etc/shadow").exists()
    assert {".ssh", ".aws", ".gnupg", ".config/gh", ".netrc", ".docker/config.json"} <= hidden
    assert not any(p.name in ("notes", "Documents") for p in profile.hidden)
    assert not profile.network and profile.limits == Limits()


def test_the_profile_hides_the_claude_config_agent_sockets_and_other_projects(
    tmp_path: Path,
) -> None:
    home = _home(tmp_path)
    config, runtime = tmp_path / "my-claude", tmp_path / "run-user"
    config.mkdir()
    runtime.mkdir()
    ws = tmp_path / "ws"
    for project in ("site", "secret"):
        (ws / "projects" / project / "output").mkdir(parents=True)
    (ws / "state").mkdir()
    work = ws / "projects" / "site" / "output"
    env = {"CLAUDE_CONFIG_DIR": str(config), "XDG_RUNTIME_DIR": str(runtime)}
    profile = build_profile(work, home=home, workspace=ws, env=env)
    hidden = set(profile.hidden)
    assert {config.resolve(), runtime.resolve(), (ws / "state").resolve()} <= hidden
    assert (ws / "projects" / "secret").resolve() in hidden
    assert not any(work.resolve().is_relative_to(p) for p in hidden)  # never its own folder


def test_bwrap_argv_as_root_on_a_recent_kernel_limits_pids_and_drops_capabilities(
    tmp_path: Path,
) -> None:
    home = _home(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    profile = build_profile(work, home=home, env={}, limits=Limits(processes=100, cpu_secs=7))
    argv = bwrap_argv(profile, "make clean", ROOT_NEW_KERNEL)
    assert argv[:8] == ["/usr/bin/bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    assert argv[-2:] == ["llmos-sandbox", "make clean"]  # the command is an argument, unquoted
    joined = " ".join(argv)
    assert f"--bind {work.resolve()} {work.resolve()}" in joined
    assert f"--tmpfs {(home / '.ssh').resolve()}" in joined
    assert f"--ro-bind /dev/null {(home / '.netrc').resolve()}" in joined
    for flag in ("--unshare-pid", "--unshare-net", "--die-with-parent", "--new-session"):
        assert flag in argv
    setup = argv[-3]
    assert "echo 301 > /proc/sys/kernel/pid_max" in setup  # the kernel's floor
    assert "--bind -o ro /proc/sys /proc/sys" in setup
    assert "ulimit -S -H -t 7" in setup and "setpriv --bounding-set=-all" in setup
    assert "--unshare-user" not in argv


def test_bwrap_argv_as_root_on_an_old_kernel_never_writes_pid_max() -> None:
    profile = SandboxProfile(Path("/w"))
    argv = bwrap_argv(profile, "true", ROOT_OLD_KERNEL)
    assert "pid_max" not in argv[-3]  # it would be the whole machine's
    assert argv[argv.index("--cap-drop") : argv.index("--cap-drop") + 2] == ["--cap-drop", "ALL"]
    assert "/proc/sys" in argv and "/proc/sysrq-trigger" in argv
    assert ROOT_OLD_KERNEL.process_limit == "none"


def test_bwrap_argv_as_a_user_counts_processes_in_its_own_user_namespace() -> None:
    argv = bwrap_argv(SandboxProfile(Path("/w"), limits=Limits(processes=64)), "true", USER)
    assert "--unshare-user" in argv and "--cap-drop" not in argv
    assert "ulimit -S -H -u 64" in argv[-3] and "pid_max" not in argv[-3]
    assert USER.process_limit == "rlimit"


def test_allowed_domains_keep_the_network() -> None:
    profile = SandboxProfile(Path("/w"), allowed_domains=("pypi.org",))
    assert "--unshare-net" not in bwrap_argv(profile, "pip download x", USER)
    settings = cli_settings(profile, {})
    assert settings["network"] == {"allowedDomains": ["pypi.org"]}


def test_no_profile_runs_the_command_as_it_is() -> None:
    assert sandboxed_argv("echo hi", Path("/w"), None) == ["bash", "-c", "echo hi"]
    with pytest.raises(ValueError, match="profile is for"):
        sandboxed_argv("echo hi", Path("/elsewhere"), SandboxProfile(Path("/w")))


def test_the_sandboxed_environment_has_no_credentials(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "ANTHROPIC_API_KEY": "sk-ant",
        "AWS_SECRET_ACCESS_KEY": "x",
        "GITHUB_TOKEN": "t",
        "NPM_TOKEN": "t",
        "DB_PASSWORD": "p",
        "SSH_AUTH_SOCK": "/tmp/agent",
        "MY_API_KEY": "k",
        "KEYBOARD": "us",
        "TOKENIZERS_PARALLELISM": "false",
    }
    profile = SandboxProfile(tmp_path, tmpdir=tmp_path / "tmp")
    kept = sandbox_env(env, profile)
    caches = {"XDG_CACHE_HOME", "npm_config_cache"}
    assert set(kept) == {"PATH", "HOME", "KEYBOARD", "TOKENIZERS_PARALLELISM", "TMPDIR"} | caches
    assert kept["TMPDIR"] == str(tmp_path / "tmp")
    assert sandbox_env(env, None) == env  # no sandbox: nothing changes
    assert is_secret_variable("aws_session_token") and not is_secret_variable("LANG")


def test_the_cli_sandbox_settings_and_limits(tmp_path: Path) -> None:
    home = _home(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    profile = build_profile(work, home=home, allowed_paths=["~/notes"], env={})
    settings = cli_settings(
        profile, {"PATH": "/bin", "GITHUB_TOKEN": "t", "ANTHROPIC_API_KEY": "k"}
    )
    assert settings["enabled"] is True and settings["allowUnsandboxedCommands"] is False
    assert settings["autoAllowBashIfSandboxed"] is True and settings["failIfUnavailable"] is True
    assert settings["credentials"] == {
        "envVars": [
            {"name": "ANTHROPIC_API_KEY", "mode": "deny"},
            {"name": "GITHUB_TOKEN", "mode": "deny"},
        ]
    }
    filesystem = settings["filesystem"]
    assert isinstance(filesystem, dict)
    assert filesystem["allowWrite"] == [str((home / "notes").resolve())]
    assert str((home / ".ssh").resolve()) in filesystem["denyRead"]
    assert "network" not in settings  # none allowed: the CLI's default, no network
    env = cli_env(profile, ROOT_NEW_KERNEL)
    assert Path(env["BASH_ENV"]).is_file() and env["LLMOS_SANDBOX_PID_MAX"] == "513"
    assert "LLMOS_SANDBOX_PID_MAX" not in cli_env(profile, USER)


# ----------------------------------------------------------------------------- settings


def test_the_sandbox_setting(tmp_path: Path) -> None:
    source = tmp_path / "config.yaml"
    assert Settings().sandbox == "auto"
    assert Settings.from_mapping({"sandbox": False}, source=source).sandbox == "off"  # `off`
    assert Settings.from_mapping({"sandbox": "required"}, source=source).sandbox == "required"
    with pytest.raises(UsageError, match="not one of auto, required, off"):
        Settings.from_mapping({"sandbox": "sometimes"}, source=source)


def test_a_project_may_tighten_the_sandbox_never_loosen_it(sandbox: Sandbox) -> None:
    assert run_llmos(sandbox, "project", "create", "site").returncode == 0
    project_file = sandbox.workspace / "projects" / "site" / "project.yaml"
    text = project_file.read_text()
    project_file.write_text(text + "settings:\n  sandbox: off\n")
    proc = run_llmos(sandbox, "project", "show", "site")
    assert proc.returncode == 2 and "a project may only tighten it" in " ".join(proc.stderr.split())
    project_file.write_text(text + "settings:\n  sandbox: required\n")
    assert run_llmos(sandbox, "project", "show", "site").returncode == 0


def test_network_domains_in_the_policy(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text('network:\n  allow: [pypi.org, "*.npmjs.org"]\n')
    assert load_policy(tmp_path).allowed_domains == ("pypi.org", "*.npmjs.org")
    (tmp_path / "policy.yaml").write_text("network:\n  allow: ['https://evil/x']\n")
    with pytest.raises(UsageError, match="is not a domain name"):
        load_policy(tmp_path)
    (tmp_path / "policy.yaml").write_text("network: {deny: [x.org]}\n")
    with pytest.raises(UsageError, match="one list, allow"):
        load_policy(tmp_path)
    (tmp_path / "policy.yaml").write_text("")
    project = tmp_path / "projects" / "p"
    project.mkdir(parents=True)
    (project / "policy.yaml").write_text("network:\n  allow: [pypi.org]\n")
    with pytest.raises(UsageError, match="cannot allow network access"):
        load_policy(tmp_path, "p")


# ----------------------------------------------------------------------------- canaries


def test_install_hint_names_a_package_manager() -> None:
    assert "bubblewrap" in install_hint("bubblewrap")


@pytest.mark.skipif(
    not replay_sandbox().ok, reason=f"no bubblewrap sandbox here: {replay_sandbox().detail}"
)
def test_a_sandboxed_command_writes_its_folder_and_nothing_else(tmp_path: Path) -> None:
    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir()
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    profile = build_profile(work, home=tmp_path, env={})
    proc = run_sandboxed(
        f"echo in > inside.txt; echo out > {outside}/new.txt; rm -f {outside}/keep.txt; "
        f"cat {outside}/keep.txt",
        profile,
    )
    assert (work / "inside.txt").read_text() == "in\n"
    assert not (outside / "new.txt").exists() and (outside / "keep.txt").read_text() == "keep"
    assert "Read-only file system" in proc.stderr
    assert proc.stdout == "keep"  # reading outside is allowed (but for credentials)


def test_status_shows_the_sandbox(sandbox: Sandbox) -> None:
    info = __import__("json").loads(run_llmos(sandbox, "status", "--json").stdout)
    assert info["sandbox"]["setting"] == "auto"
    assert info["sandbox"]["replay"] is replay_sandbox().ok
    shown = " ".join(run_llmos(sandbox, "status").stdout.split())
    assert ("auto: on" in shown) is (replay_sandbox().ok and info["sandbox"]["learner"])


def test_doctor_reports_every_check(sandbox: Sandbox) -> None:
    run_llmos(sandbox, "status")  # makes the workspace and its ledger
    proc = run_llmos(sandbox, "doctor", "--json")
    report = __import__("json").loads(proc.stdout)
    checks = {c["check"]: c for c in report["checks"]}
    assert {"Python", "Claude Code CLI", "model access", "config.yaml"} <= set(checks)
    assert checks["model access"]["status"] == "warn"  # the tests remove every credential
    assert "not tried" not in checks["model access"]["detail"]
    (ledger,) = (c for name, c in checks.items() if name.startswith("database llmos.db"))
    assert ledger["status"] == "ok"
    sandbox_check = checks["sandbox: replays (bubblewrap)"]
    assert sandbox_check["status"] == ("ok" if replay_sandbox().ok else "warn")
    assert proc.returncode == (0 if report["ok"] else 1)
    if replay_sandbox().ok:
        assert checks["sandbox: network"]["status"] == "ok"


def test_doctor_fails_on_a_broken_policy_file_and_a_required_sandbox(sandbox: Sandbox) -> None:
    run_llmos(sandbox, "status")
    (sandbox.workspace / "policy.yaml").write_text("rules: [not a mapping\n")
    proc = run_llmos(sandbox, "doctor")
    assert proc.returncode == 1 and "fail" in proc.stdout and "policy" in proc.stdout


@pytest.mark.skipif(
    not replay_sandbox().ok, reason=f"no bubblewrap sandbox here: {replay_sandbox().detail}"
)
def test_credentials_stay_hidden_inside_an_allowed_folder(tmp_path: Path) -> None:
    home, work = _home(tmp_path), tmp_path / "work"
    work.mkdir()
    (home / ".ssh" / "id_rsa").write_text("KEY\n")
    profile = build_profile(work, home=home, allowed_paths=["~"], env={})
    assert home.resolve() in profile.writable
    proc = run_sandboxed(
        f"echo hi > {home}/notes/new.txt; cat {home}/.ssh/id_rsa; ls -A {home}/.ssh; "
        f"cat {home}/.netrc; echo x > {home}/.ssh/planted",
        profile,
    )
    assert (home / "notes" / "new.txt").read_text() == "hi\n"  # the allowed folder is writable
    assert "KEY" not in proc.stdout and "password" not in proc.stdout
    assert not (home / ".ssh" / "planted").exists()  # a write into the empty cover is lost


def test_the_cli_folder_is_tidied_only_when_no_other_run_uses_the_folder(tmp_path: Path) -> None:
    first, second = CliFolder(tmp_path), CliFolder(tmp_path)  # two subtasks, one folder
    (tmp_path / ".claude" / ".cc-writes").mkdir(parents=True)  # what the CLI leaves
    first.tidy()
    assert (tmp_path / ".claude" / ".cc-writes").is_dir()  # the second run's CLI may bind it
    second.tidy()
    assert not (tmp_path / ".claude").exists()
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / "settings.json").write_text("{}")
    CliFolder(tmp_path).tidy()  # it was there before the run: left alone
    assert (tmp_path / ".claude" / "settings.json").exists()


@pytest.mark.skipif(
    not replay_sandbox().ok, reason=f"no bubblewrap sandbox here: {replay_sandbox().detail}"
)
def test_a_run_remembers_a_working_sandbox_for_a_day(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmos._internal.security import sandbox_probe

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert sandbox_probe.replay_sandbox_remembered().ok  # the canary ran, and was remembered
    remembered = sandbox.home / ".cache" / "llmos" / "sandbox-probe.json"
    assert remembered.is_file()

    def no_canary() -> None:
        raise AssertionError("the canary ran again")

    monkeypatch.setattr(sandbox_probe, "replay_sandbox", no_canary)
    assert sandbox_probe.replay_sandbox_remembered().ok
    remembered.write_text(remembered.read_text().replace('"key": "', '"key": "changed'))
    with pytest.raises(AssertionError, match="ran again"):  # another machine: asked again
        sandbox_probe.replay_sandbox_remembered()
