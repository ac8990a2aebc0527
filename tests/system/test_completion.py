#!/usr/bin/python3
"""The bash completion of devauthctl (client/devauthctl.bash-completion)
against devauthctl itself: it offers exactly the verbs of `devauthctl --help`
and, for each verb, exactly the options of `devauthctl VERB --help`; the
values of --qr; account names from the accounts directory, as many as the
verb takes. Runs bash with bash-completion's own bash_completion, as an
interactive shell would."""

import json
import os
import re

import systest
from systest import check, check_equal, harness, run_process

BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"
SCRIPT = os.path.join(systest.SOURCE_ROOT, "client", "devauthctl.bash-completion")


def help_of(*args):
    rc, out, err = run_process([harness.env_path("DEVAUTHCTL"), *args, "--help"], timeout=30)
    check_equal(rc, 0, f"devauthctl {' '.join(args)} --help exit status ({err!r})")
    return out


def verbs_from_help():
    text = help_of()
    block = text.split("Verbs:\n", 1)[1].split("\n\n", 1)[0]
    return sorted(line.split()[0] for line in block.splitlines() if line.strip())


def options_from_help(verb):
    """--long options of `devauthctl VERB --help`; '--opt=' when it takes a value."""
    opts = set()
    for m in re.finditer(r"^\s+(?:-\w, )?(--[\w-]+)(=\S+)?", help_of(verb), re.M):
        opts.add(m.group(1) + ("=" if m.group(2) else ""))
    return sorted(opts)


class Completer:
    def __init__(self, tmp, accounts_dir):
        self.tmp = tmp
        self.accounts_dir = accounts_dir

    def __call__(self, words):
        """COMPREPLY for COMP_WORDS = words (the last one is being completed),
        split as bash splits them ('=' is a word of its own)."""
        line = words[0]
        for prev, word in zip(words, words[1:]):
            line += word if "=" in (prev, word) else " " + word
        driver = os.path.join(self.tmp, "complete.bash")
        with open(driver, "w") as f:
            f.write(f"""
source {BASH_COMPLETION}
source {SCRIPT}
COMP_WORDS=({" ".join(_quote(w) for w in words)})
COMP_CWORD={len(words) - 1}
COMP_LINE={_quote(line)}
COMP_POINT=${{#COMP_LINE}}
COMPREPLY=()
_devauthctl devauthctl {_quote(words[-1])} {_quote(words[-2] if len(words) > 1 else "")}
printf '%s\\n' "${{COMPREPLY[@]}}"
""")
        env = systest.subprocess_env(DEVAUTHCTL_ACCOUNTS_DIR=self.accounts_dir)
        rc, out, err = run_process(["bash", "--norc", "--noprofile", driver], timeout=30,
                                   env=env)
        check(rc == 0 and not err.strip(), f"completing {words!r}: exit {rc}, stderr {err!r}")
        return sorted(w for w in out.splitlines() if w)


def _quote(word):
    return "'" + word.replace("'", "'\\''") + "'"


def main(h):
    check(os.path.isfile(BASH_COMPLETION), f"{BASH_COMPLETION} is missing (bash-completion)")
    accounts = os.path.join(h.tmp, "accounts.d")
    os.makedirs(accounts)
    for name in ("kitchen", "tv", "tv-guest"):
        open(os.path.join(accounts, f"{name}.conf"), "w").close()
    open(os.path.join(accounts, "README"), "w").close()
    complete = Completer(h.tmp, accounts)

    verbs = verbs_from_help()
    check(len(verbs) >= 9, f"verbs in devauthctl --help: {verbs}")
    check_equal(complete(["devauthctl", ""]), verbs, "verbs offered")
    check_equal(complete(["devauthctl", "--"]), ["--help", "--version"], "global options")
    check_equal(complete(["devauthctl", "lo"]), ["login", "logout"], "verbs starting with lo")

    takes_accounts = {}
    for verb in verbs:
        check_equal(complete(["devauthctl", verb, "--"]), options_from_help(verb),
                    f"options offered for {verb}")
        usage = help_of(verb).split("\n", 2)[1]
        takes_accounts[verb] = ("ACCOUNT…" in usage and "n") or ("ACCOUNT" in usage and "1") or "0"
    print(json.dumps(takes_accounts))

    names = ["kitchen", "tv", "tv-guest"]
    for verb, kind in takes_accounts.items():
        first = complete(["devauthctl", verb, ""])
        second = complete(["devauthctl", verb, "tv", ""])
        check_equal(first, names if kind != "0" else [], f"accounts offered for {verb}")
        check_equal(second, names if kind == "n" else [],
                    f"accounts offered for {verb} after one account")
    check_equal(complete(["devauthctl", "token", "--no-fd", "tv"]), ["tv", "tv-guest"],
                "accounts after an option")
    for words in (["devauthctl", "login", "--qr", ""], ["devauthctl", "watch", "--qr", "=", ""]):
        check_equal(complete(words), ["ascii", "unicode"], f"values of --qr in {words}")
    check_equal(complete(["devauthctl", "qr", "--format", "=", ""]), ["ascii", "png", "svg", "utf8"],
                "values of qr --format")
    check_equal(complete(["devauthctl", "wait", "--timeout", ""]), [],
                "completion of --timeout's value")
    check_equal(complete(["devauthctl", "frobnicate", ""]), [], "completion after an unknown verb")


if __name__ == "__main__":
    systest.run(main)
