#!/usr/bin/env python3
"""Checks that the operator docs cover what the code can say and accept.

docs/troubleshooting.md must have an entry for
  - every WARN and ERROR log line: `tracing::warn!` / `tracing::error!` (also `warn!`, `error!`,
    `event!(Level::WARN|ERROR, ...)`) in server/src, keyed by its tag and message prefix;
  - every error message a start-up refusal, config error or API error can carry (`#[error("...")]`
    in server/src), every start-up warning (`Note::warn(...)`) and every model warning
    (`warnings.push(...)` in model/src), keyed by message prefix;
  - every client-visible code: the variants of LoginCode, ErrorCode and TxErrorCode (as
    UPPER_SNAKE names, in the section whose heading names the enum) and every admin API error
    code (`StatusCode::X, "code"`, in the section headed "Admin API error codes").
docs/configuration.md must have an entry for
  - every long option of `sync-server --help` (and every `long = "..."` in the sources);
  - every config file key the parser accepts (the `const *_KEYS: &[&str]` lists in the config
    file parser, resolved to dotted paths such as `auth.jwt.claimAud`), and every key it documents
    must be accepted by the server binary, which rejects unknown keys ("unknown key").

The matching rules are described at the top of docs/troubleshooting.md and
docs/configuration.md. Files are found by content, not by path, so code may move between files.

Usage: scripts/check-docs.py [-v]   (from the repository root; SYNC_SERVER_BIN names the server
binary, default target/debug/sync-server; without it the binary checks are skipped and the
options come from the sources only). Last line: "N passed, M failed"; exit 1 on any failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

VERBOSE = "-v" in sys.argv[1:]
ROOT = Path(__file__).resolve().parent.parent
TROUBLESHOOTING = ROOT / "docs/troubleshooting.md"
CONFIGURATION = ROOT / "docs/configuration.md"
SERVER_SRC = [ROOT / "server/src"]
MODEL_SRC = [ROOT / "model/src"]
CODE_SRC = [ROOT / "shared-types/src", ROOT / "server/src"]
SERVER_BIN = Path(os.environ.get("SYNC_SERVER_BIN", ROOT / "target/debug/sync-server"))

# Keys are cut to this many characters (at a word boundary) so that rewording the end of a long
# message does not need a doc change; the beginning is what an operator greps for.
KEY_MAX_CHARS = 48
# A message key needs at least this many words of literal text (see `message_key`).
KEY_MIN_WORDS = 3

passed = 0
failed = 0


def result(ok: bool, what: str, problem: str = "") -> None:
    """Counts one check; prints failures (with the problem), and passes too with -v."""
    global passed, failed
    if ok:
        passed += 1
        if VERBOSE:
            print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what}" + (f": {problem}" if problem else ""))


# ---------------------------------------------------------------------------------------------
# Rust source scanning


def rust_files(roots: list[Path]) -> list[Path]:
    """Every .rs file under the roots except test files (tests.rs, tests/ directories)."""
    files = []
    for root in roots:
        for p in sorted(root.rglob("*.rs")):
            rel = p.relative_to(root).parts
            if p.name == "tests.rs" or "tests" in rel[:-1]:
                continue
            files.append(p)
    return files


def strip_comments(src: str) -> str:
    """Blanks // and /* */ comments (keeping newlines), leaving string literals intact."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == '"' or (c == "r" and re.match(r'r#*"', src[i:]) and not src[i - 1 : i].isalnum()):
            j = string_end(src, i)
            out.append(src[i:j])
            i = j
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", src[i:]):
            # A char literal such as '"' (lifetimes like 'a are left alone).
            m = re.match(r"'(\\.|[^\\'])'", src[i:])
            out.append(m.group(0))
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def string_end(src: str, i: int) -> int:
    """The index after the string literal starting at i ("..." or r#"..."#)."""
    if src[i] == "r":
        m = re.match(r'r(#*)"', src[i:])
        close = '"' + m.group(1)
        j = src.find(close, i + len(m.group(0)))
        return len(src) if j < 0 else j + len(close)
    j = i + 1
    while j < len(src):
        if src[j] == "\\":
            j += 2
        elif src[j] == '"':
            return j + 1
        else:
            j += 1
    return len(src)


def decode_string(lit: str) -> str:
    """The value of a Rust string literal (escapes, line continuations, raw strings)."""
    if lit.startswith("r"):
        m = re.match(r'r(#*)"(.*)"\1$', lit, re.S)
        return m.group(2)
    body = lit[1:-1]
    body = re.sub(r"\\\n\s*", "", body)
    simple = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}

    def esc(m: re.Match) -> str:
        s = m.group(1)
        if s in simple:
            return simple[s]
        if s.startswith("u{"):
            return chr(int(s[2:-1], 16))
        if s.startswith("x"):
            return chr(int(s[1:], 16))
        return s

    return re.sub(r"\\(u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)", esc, body)


def call_args(src: str, open_paren: int) -> tuple[list[str], int]:
    """Splits the argument list starting at src[open_paren] == '(' at top-level commas."""
    args, depth, start, i = [], 0, open_paren + 1, open_paren
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = []
    while i < len(src):
        c = src[i]
        if c == '"' or (c == "r" and re.match(r'r#*"', src[i:]) and not src[i - 1].isalnum()):
            i = string_end(src, i)
            continue
        if c in pairs:
            stack.append(pairs[c])
        elif stack and c == stack[-1]:
            stack.pop()
            if not stack:
                args.append(src[start:i].strip())
                return [a for a in args if a], i + 1
        elif c == "," and len(stack) == 1:
            args.append(src[start:i].strip())
            start = i + 1
        i += 1
        depth = len(stack)
    return args, len(src)


STRING_LIT = re.compile(r'^(r#*"|")')


def first_string(args: list[str]) -> str | None:
    """The first argument that is a plain string literal (the format string)."""
    for a in args:
        if STRING_LIT.match(a) and string_end(a, 0) == len(a):
            return decode_string(a)
    return None


def line_of(src: str, pos: int) -> int:
    return src.count("\n", 0, pos) + 1


LOG_MACRO = re.compile(r"(?<![\w:])(?:tracing::)?(warn|error|event)!\s*\(")


def log_lines(roots: list[Path]) -> list[dict]:
    """WARN and ERROR log statements: level, tag (target) and format string."""
    found = []
    for path in rust_files(roots):
        src = strip_comments(path.read_text())
        for m in LOG_MACRO.finditer(src):
            args, _ = call_args(src, m.end() - 1)
            level = m.group(1).upper()
            tag = None
            rest = []
            for a in args:
                t = re.fullmatch(r'target:\s*"([^"]*)"', a)
                if t:
                    tag = t.group(1)
                elif level == "EVENT" and re.fullmatch(r"(tracing::)?Level::\w+", a):
                    level = a.rsplit("::", 1)[1]
                else:
                    rest.append(a)
            if level not in ("WARN", "ERROR"):
                continue
            fmt = first_string(rest)
            where = f"{path.relative_to(ROOT)}:{line_of(src, m.start())}"
            found.append({"level": level, "tag": tag, "fmt": fmt, "where": where})
    return found


def message_literal(arg: str) -> str | None:
    """The message text of a call argument: a literal, `"...".into()` / `.to_owned()` /
    `.to_string()`, `String::from("...")` or `format!("...", ...)`."""
    arg = arg.strip()
    for wrapper in (r"format!\s*\(", r"String::from\s*\("):
        w = re.match(wrapper, arg)
        if w:
            return first_string(call_args(arg, w.end() - 1)[0])
    if STRING_LIT.match(arg):
        end = string_end(arg, 0)
        rest = arg[end:].strip()
        if rest == "" or re.fullmatch(r"\.(into|to_owned|to_string)\(\)", rest):
            return decode_string(arg[:end])
    return None


def first_literal_calls(roots: list[Path], pattern: str, require: bool = False) -> list[dict]:
    """The message of each call matching `pattern` (which ends at the '('): its first argument
    that is a message literal. With `require`, calls without one are returned with fmt None."""
    found = []
    for path in rust_files(roots):
        src = strip_comments(path.read_text())
        for m in re.finditer(pattern, src):
            args, _ = call_args(src, m.end() - 1)
            fmt = next((f for f in map(message_literal, args) if f is not None), None)
            if fmt is not None or require:
                found.append({"fmt": fmt, "where": f"{path.relative_to(ROOT)}:{line_of(src, m.start())}"})
    return found


def error_messages(roots: list[Path]) -> list[dict]:
    """`#[error("...")]` messages of the error types (not `transparent`)."""
    return [e for e in first_literal_calls(roots, r"#\[error\s*\(") if literal_words(e["fmt"]) > 0]


PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def normalise(text: str) -> str:
    """Placeholders as {}, {{ }} as braces, whitespace collapsed, tag padding removed."""
    text = text.replace("{{", "\0").replace("}}", "\1")
    text = PLACEHOLDER.sub("{}", text)
    text = text.replace("\0", "{").replace("\1", "}")
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"^\[\s*(\w+)\s*\]", r"[\1]", text)


def literal_words(fmt: str) -> int:
    return len(re.findall(r"[A-Za-z]{2,}", PLACEHOLDER.sub(" ", fmt.replace("{{", "").replace("}}", ""))))


def message_key(fmt: str) -> str:
    """The stable key of a message format string (the rule is in docs/troubleshooting.md)."""
    text = normalise(fmt)
    # The shortest prefix ending at a placeholder (or the end) with KEY_MIN_WORDS words of text.
    parts = text.split("{}")
    key = ""
    for i, part in enumerate(parts):
        key += part
        if literal_words(key) >= KEY_MIN_WORDS or i == len(parts) - 1:
            break
        key += "{}"
    key = key.rstrip()
    if len(key) > KEY_MAX_CHARS:
        cut = key[:KEY_MAX_CHARS]
        cut = cut[: cut.rfind(" ")] if " " in cut else cut
        # Never below the minimum of words.
        key = cut if literal_words(cut) >= KEY_MIN_WORDS else key
    return key.rstrip()


def log_key(tag: str | None, fmt: str) -> str:
    return (f"[{tag}] " if tag else "") + message_key(fmt)


# ---------------------------------------------------------------------------------------------
# Markdown


def code_spans(md: str, entries_only: bool = False) -> list[tuple[str, list[str]]]:
    """Every inline code span with the headings above it (outermost first); fenced blocks skipped.

    With entries_only, only spans that open a list item or a table row (an entry, not a mention).
    """
    out, headings, fenced = [], [], False
    for line in md.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        h = re.match(r"(#+)\s+(.*)", line)
        if h:
            level = len(h.group(1))
            headings = headings[: level - 1] + [""] * max(0, level - 1 - len(headings)) + [h.group(2)]
        for m in re.finditer(r"(`+)(.+?)\1", line):
            if entries_only and not re.fullmatch(r"\s*([-*]|\|)\s*", line[: m.start()]):
                continue
            out.append((m.group(2).strip(), list(headings)))
    return out


def table_rows(md: str):
    """(headings above, first cell) of every table row, outside fenced blocks."""
    headings: list[str] = []
    fenced = False
    for line in md.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        h = re.match(r"(#+)\s+(.*)", line)
        if h:
            headings = headings[: len(h.group(1)) - 1] + [h.group(2)]
        row = re.match(r"\|([^|]*)\|", line)
        if row and not re.fullmatch(r"\s*:?-+:?\s*", row.group(1)):
            yield list(headings), row.group(1).strip()


def documented(spans: list[tuple[str, list[str]]], key: str, heading: str | None = None) -> bool:
    """Whether some code span (under a heading containing `heading`) starts with the key."""
    nkey = normalise(key)
    for span, heads in spans:
        if heading and not any(heading in h for h in heads):
            continue
        if normalise(span).startswith(nkey):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Codes


def camel_to_upper_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def enum_variants(roots: list[Path], enum: str) -> list[str]:
    for path in rust_files(roots):
        src = strip_comments(path.read_text())
        m = re.search(r"\benum\s+" + enum + r"\s*\{", src)
        if not m:
            continue
        args, _ = call_args(src, m.end() - 1)
        variants = []
        for a in args:
            a = re.sub(r"#\[[^\]]*\]", "", a).strip()
            v = re.match(r"([A-Z]\w*)", a)
            if v and v.group(1) != "Other":
                variants.append(v.group(1))
        return variants
    return []


def admin_codes(roots: list[Path]) -> dict[str, str]:
    codes = {}
    for path in rust_files(roots):
        src = strip_comments(path.read_text())
        for m in re.finditer(r'StatusCode::([A-Z_]+)\s*,\s*"([a-z][a-z0-9_]*)"', src):
            codes.setdefault(m.group(2), m.group(1))
    return codes


# ---------------------------------------------------------------------------------------------
# Troubleshooting checks


def check_troubleshooting() -> None:
    if not TROUBLESHOOTING.exists():
        result(False, f"{TROUBLESHOOTING.relative_to(ROOT)} does not exist")
        return
    spans = code_spans(TROUBLESHOOTING.read_text())

    logs = log_lines(SERVER_SRC)
    result(len(logs) > 0, f"found {len(logs)} WARN/ERROR log statements in server/src")
    keys = {}
    for entry in logs:
        if entry["fmt"] is None:
            result(False, f'{entry["where"]}: {entry["level"]} log statement without a literal format string; '
                          "give it one so it can be documented")
            continue
        keys.setdefault(log_key(entry["tag"], entry["fmt"]), []).append(entry)
    for key, entries in sorted(keys.items()):
        wheres = ", ".join(e["where"] for e in entries)
        result(documented(spans, key),
               f'log line `{key}` ({entries[0]["level"]}, {wheres})', "no entry in docs/troubleshooting.md")

    messages = [("error message", e) for e in error_messages(SERVER_SRC)]
    messages += [("start-up warning", e) for e in first_literal_calls(SERVER_SRC, r"Note::warn\s*\(", True)]
    messages += [("model warning", e) for e in first_literal_calls(MODEL_SRC, r"\bwarnings\.push\s*\(", True)]
    result(len(messages) > 0, f"found {len(messages)} error messages and warnings")
    seen = {}
    for kind, e in messages:
        if e["fmt"] is None:
            result(False, f'{e["where"]}: {kind} without a literal message',
                   "give it one (a literal, \"...\".into() or format!(\"...\")) so it can be documented")
            continue
        seen.setdefault((kind, message_key(e["fmt"])), []).append(e["where"])
    for (kind, key), wheres in sorted(seen.items()):
        result(documented(spans, key),
               f"{kind} `{key}` ({', '.join(wheres)})", "no entry in docs/troubleshooting.md")

    for enum in ("LoginCode", "ErrorCode", "TxErrorCode"):
        variants = enum_variants(CODE_SRC, enum)
        result(len(variants) > 0, f"enum {enum} found with {len(variants)} variants")
        for v in variants:
            name = camel_to_upper_snake(v)
            result(any(span == name and any(enum in h for h in heads) for span, heads in spans),
                   f"{enum}::{v} (`{name}`)", f"no entry under a heading naming {enum} in docs/troubleshooting.md")

    codes = admin_codes(SERVER_SRC)
    result(len(codes) > 0, f"found {len(codes)} admin API error codes")
    for code, status in sorted(codes.items()):
        result(any(span == code and any("Admin API error codes" in h for h in heads) for span, heads in spans),
               f"admin API error code `{code}` (HTTP {status})",
               'no entry under "Admin API error codes" in docs/troubleshooting.md')

    # Entries for log lines that no longer exist: reported, not failed (the code is being moved
    # around; a stale entry misleads less than a missing one).
    all_keys = [normalise(k) for k in keys] + [normalise(k) for _, k in seen]
    for span, _ in code_spans(TROUBLESHOOTING.read_text(), entries_only=True):
        s = normalise(span)
        if re.match(r"\[\w+\] ", s) and not any(s.startswith(k) for k in all_keys):
            print(f"note: docs/troubleshooting.md entry `{span}` matches no log statement")


# ---------------------------------------------------------------------------------------------
# Configuration checks


def help_options() -> tuple[list[str], str]:
    """Long options from `--help` when the binary is there, plus `long = "..."` in the sources."""
    opts = set()
    for path in rust_files(SERVER_SRC):
        src = strip_comments(path.read_text())
        opts.update(re.findall(r'\blong\s*=\s*"([a-z0-9][a-z0-9-]*)"', src))
        # clap adds --help itself unless told not to.
        if "clap" in src and re.search(r"#\[command\(", src) and "disable_help_flag = true" not in src:
            opts.add("help")
    source = "sources"
    if SERVER_BIN.exists():
        out = subprocess.run([str(SERVER_BIN), "--help"], capture_output=True, text=True, timeout=30)
        from_help = re.findall(r"^\s+(?:-\w, )?--([a-z0-9][a-z0-9-]*)", out.stdout, re.M)
        result(out.returncode == 0 and len(from_help) > 0,
               f"{SERVER_BIN} --help lists {len(from_help)} options (exit {out.returncode})")
        opts.update(from_help)
        source = "sources and --help"
    else:
        print(f"skip: {SERVER_BIN} not found: options from the sources only, no binary checks")
    return sorted(opts), source


def config_keys() -> list[str]:
    """Dotted key paths from the `const NAME_KEYS: &[&str] = &[...]` lists of the config parser.

    The parser is the file that calls `check_keys(...)`. A list's place: the list passed to
    `check_keys` without an enclosing object is the top level; a list passed as
    `.object("key", LIST)` sits under "key", found in another list (its parent); a list used
    only in `check_keys` on array items (`format!("{}key[{i}].")`) sits under "key[]".
    """
    for path in rust_files(SERVER_SRC):
        src = strip_comments(path.read_text())
        if "check_keys" in src and re.search(r"const\s+\w*KEYS\s*:\s*&\[&str\]", src):
            break
    else:
        return []
    lists = {}
    for m in re.finditer(r"const\s+(\w*KEYS)\s*:\s*&\[&str\]\s*=\s*&\[", src):
        args, _ = call_args(src, m.end() - 1)
        lists[m.group(1)] = [decode_string(a) for a in args if STRING_LIT.match(a)]
    under = {}  # list -> key it is the object of
    for m in re.finditer(r'\.object\(\s*"(\w+)"\s*,\s*(\w*KEYS)\s*\)', src):
        under[m.group(2)] = m.group(1)
    array_items = {}
    for m in re.finditer(r'format!\(\s*"\{\}(\w+)\[\{i\}\]\."', src):
        # The nearest check_keys after this prefix names the list of the array's items.
        c = re.compile(r"check_keys\(\s*(\w*KEYS)\s*\)").search(src, m.end())
        if c:
            array_items[c.group(1)] = m.group(1) + "[]"
    top = [n for n in re.findall(r"\btop\.check_keys\(\s*(\w*KEYS)\s*\)", src)]
    paths = {}
    for name in top:
        paths[name] = ""

    def resolve(name: str, depth: int = 0) -> str | None:
        if name in paths:
            return paths[name]
        if depth > 10:
            return None
        key = under.get(name) or array_items.get(name)
        if key is None:
            return None
        plain = key.removesuffix("[]")
        parents = [p for p, keys in lists.items() if plain in keys and p != name]
        for p in parents:
            base = resolve(p, depth + 1)
            if base is not None:
                paths[name] = f"{base}{key}."
                return paths[name]
        return None

    out = []
    for name, keys in lists.items():
        base = resolve(name)
        result(base is not None, f"config key list {name} ({path.relative_to(ROOT)}) placed in the key tree")
        if base is not None:
            out += [base + k for k in keys]
    return out


def nested_config(key: str):
    """A config document setting `key` (dotted, `[]` for array items) to null."""
    value = None
    for part in reversed(key.split(".")):
        if part.endswith("[]"):
            value = {part[:-2]: [value]}
        else:
            value = {part: value}
    return value


def server_rejects_key(key: str, tmp: Path) -> tuple[bool, str]:
    """Runs the server with a config file that sets `key` to null; True if it says unknown key."""
    conf = tmp / "conf.json"
    conf.write_text(json.dumps(nested_config(key)))
    out = subprocess.run(
        [str(SERVER_BIN), "--conf", str(conf), "--db-directory", str(tmp / "db"),
         "--bind", "ws://127.0.0.1:0", "--admin-off"],
        capture_output=True, text=True, timeout=30)
    text = out.stdout + out.stderr
    return "unknown key" in text, text.strip().splitlines()[-1] if text.strip() else f"exit {out.returncode}"


def check_configuration() -> None:
    if not CONFIGURATION.exists():
        result(False, f"{CONFIGURATION.relative_to(ROOT)} does not exist")
        return
    md = CONFIGURATION.read_text()
    spans = code_spans(md)
    opts, source = help_options()
    result(len(opts) > 0, f"found {len(opts)} command-line options ({source})")
    # Options the doc describes: the first cell of a table row under "Command-line options",
    # e.g. `-c, --conf FILE` (a mention elsewhere, such as another table's Option column, does
    # not count).
    doc_opts = set()
    for heads, first in table_rows(md):
        if any("Command-line options" in h for h in heads):
            doc_opts.update(re.findall(r"(?<![\w-])--([a-z0-9][a-z0-9-]*)", first))
    for opt in opts:
        result(opt in doc_opts, f"option --{opt}",
               'no row in the "Command-line options" table of docs/configuration.md')
    stale = sorted(doc_opts - set(opts))
    result(not stale, "every option in the table exists", f"unknown to the server: {stale}")

    keys = config_keys()
    result(len(keys) > 0, f"found {len(keys)} config file keys in the config parser")
    for key in keys:
        result(any(s == key for s, _ in spans), f"config key `{key}`", "not mentioned in docs/configuration.md")

    # The keys the doc's key tables name (first cell of a table row under a heading naming
    # "keys"): each must be accepted by the binary, and a misspelt one must be refused, so the
    # doc names no key the server does not know.
    doc_keys = []
    for heads, first in table_rows(md):
        m = re.fullmatch(r"`([A-Za-z_][\w.\[\]]*)`", first)
        if m and any("Config file keys" in h for h in heads):
            doc_keys.append(m.group(1))
    result(len(doc_keys) > 0, f"docs/configuration.md key tables list {len(doc_keys)} keys")
    missing_in_doc_tables = sorted(set(keys) - set(doc_keys))
    result(not missing_in_doc_tables,
           f"config keys missing from the key tables of docs/configuration.md: {missing_in_doc_tables}")
    if not SERVER_BIN.exists():
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for probe in ("notAKeyAtAll", "auth.notAKeyAtAll"):
            rejected, line = server_rejects_key(probe, tmp)
            result(rejected, f"the server rejects the unknown key {probe} ({line})")
        for key in doc_keys:
            rejected, line = server_rejects_key(key, tmp)
            result(not rejected, f"documented config key `{key}` is refused by the server: {line}")


def main() -> int:
    os.chdir(ROOT)
    check_troubleshooting()
    check_configuration()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
