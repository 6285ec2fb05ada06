"""Rule files from a notebook: read, check, unit-test, write, reload, confirm.

    text = rules.read(stack, "http.rules.yml")
    rules.validate(text)                     # names, windows, promtool check rules
    rules.test(text, "http.rules.yml")       # promtool test rules
    result = rules.apply(stack, "http.rules.yml", text)

`apply` is all-or-nothing. It checks everything before writing; then it writes the
file into `stack.rules_dir`, asks Prometheus to reload (POST /-/reload) and reads
`/api/v1/rules` until Prometheus runs exactly the groups of the new file and every
group of every other rule file. A failure at any step puts the previous file back
(and reloads again when it had already been written), so Prometheus keeps running
the rules it ran before; the error carries promtool's or Prometheus's message and
the line that caused it.
"""

import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import requests
import yaml

from promlab import binaries, profiles, promql, slo
from promlab.errors import StackError
from promlab.paths import CONFIGS
from promlab.stack import Stack

log = logging.getLogger(__name__)

TESTS_DIR = CONFIGS / "prometheus" / "tests"
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LEVEL_METRIC_OPERATIONS = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_]+:[a-zA-Z0-9_]+$")
# promtool: "<file>: 4:17: group "g", rule 1, "name": message"
_PROMTOOL_LINE = re.compile(r"^(?P<file>[^:]+): (?P<line>\d+):(?P<col>\d+): (?P<message>.*)$")
_YAML_LINE = re.compile(r"line (?P<line>\d+)")
_RANGE = re.compile(r"\[(?P<window>[0-9a-z]+)(?::[0-9a-z]*)?\]")
_NUMBER = re.compile(r"(?<![\w.:\"])\d+(?:\.\d*)?(?:[eE][+-]?\d+)?(?![\w.])")
CONFIRM_TIMEOUT = 10.0
# Aggregations that merge series (topk and bottomk pick series and keep their labels).
_MERGING = r"(?:sum|avg|min|max|count|count_values|group|stddev|stdvar|quantile)"
_GROUPING = r"(?:by|without)\s*\([^)]*\)"
# An aggregation call: its name, then a by/without clause or not, then "(".
# Aggregation keywords, by and without are case-insensitive in PromQL; functions are not.
_AGGREGATE_CALL = re.compile(
    rf"\b(?P<aggregation>{_MERGING})\s*(?P<grouping>{_GROUPING})?\s*\(", re.IGNORECASE
)
_TRAILING_GROUPING = re.compile(rf"\s*{_GROUPING}", re.IGNORECASE)
_RATE_CALL = re.compile(r"\b(?P<function>rate|irate|increase)\s*\(")
_QUANTILE = re.compile(r"\bhistogram_quantile\s*\(")
# PromQL strings (any of its three quotes) and comments, blanked before the checks.
_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|`[^`]*`|#[^\n]*')


class RuleError(ValueError):
    """A rule file was refused; nothing was written and the running rules are unchanged.

    Attributes:
        step: "location", "yaml", "names", "windows", "queries", "check" or "test".
        line: the line of the rule file that caused it, when known.
    """

    def __init__(self, step: str, message: str, line: int | None = None) -> None:
        """Keep the step and line apart from the message for display."""
        super().__init__(message)
        self.step = step
        self.line = line


class RuleApplyError(RuntimeError):
    """Prometheus refused or did not load the written rules; the previous file is back."""

    def __init__(self, step: str, message: str) -> None:
        """Keep the step apart from the message for display."""
        super().__init__(message)
        self.step = step
        self.line: int | None = None


@dataclass
class Problem:
    """One thing wrong with a rule file: its line (1-based) and what is wrong."""

    line: int | None
    message: str

    def describe(self, text: str) -> str:
        """Return the message with the offending line quoted."""
        if self.line is None:
            return self.message
        lines = text.splitlines()
        quoted = lines[self.line - 1].strip() if 0 < self.line <= len(lines) else ""
        return f"line {self.line}: {self.message}\n    {quoted}"


@dataclass
class ApplyResult:
    """What `apply` did: the seconds each step took, warnings, and the groups now running."""

    name: str
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        """Return the seconds from the first check to the confirmation."""
        return sum(self.seconds.values())

    def summary(self) -> str:
        """Return one line: the file, how many groups run and the time it took."""
        steps = ", ".join(f"{k} {v:.2f}s" for k, v in self.seconds.items())
        return f"{self.name} applied; Prometheus runs {len(self.groups)} groups ({steps})"


# -- reading -------------------------------------------------------------------


def files(stack: Stack) -> list[str]:
    """List the rule files of the stack's rules folder."""
    return sorted(p.name for p in stack.rules_dir.glob("*.yml"))


def read(stack: Stack, name: str) -> str:
    """Return the text of one rule file of the stack (empty for a new file)."""
    path = stack.rules_dir / name
    return path.read_text() if path.is_file() else ""


# -- checks --------------------------------------------------------------------


def check_location(stack: Stack, name: str) -> Path:
    """Return where `name` is written, if Prometheus's rule_files globs load it.

    Raises:
        RuleError: the name has a folder, or no rule_files glob matches it.
    """
    patterns = rule_globs(stack)
    target = stack.rules_dir / name
    seen_as = stack.prometheus_rules_dir()
    loaded = any(
        fnmatch(Path(name).name, Path(p).name) and Path(p).parent == seen_as for p in patterns
    )
    if "/" in name or os.sep in name or not loaded:
        raise RuleError(
            "location",
            f"{name} is outside the rule_files globs ({', '.join(patterns)}): Prometheus "
            f"would never load it. Use a plain file name ending in .yml in {stack.rules_dir}.",
        )
    return target


def rule_globs(stack: Stack) -> list[str]:
    """Return the rule_files globs of the prometheus.yml the stack runs.

    Each backend writes that file under its run directory; the compose backend's
    globs name the folder inside the container (`stack.prometheus_rules_dir()`).
    """
    config = stack.run_dir / "config" / "prometheus.yml"
    if not config.is_file():
        raise StackError(f"{config} does not exist; start the stack with Stack().up()")
    return list(yaml.safe_load(config.read_text()).get("rule_files") or [])


def check_names(text: str) -> list[Problem]:
    """Return problems with recording-rule names and alert names, with their lines.

    A recording rule's name must be a metric name (letters, digits, _ and :) and
    should read level:metric:operations; `labels` must not set `__name__`.
    """
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        return [Problem(mark.line + 1 if mark else None, f"not valid YAML: {error}")]
    problems: list[Problem] = []
    for rule in _rule_nodes(root):
        record = rule.get("record")
        if record is not None:
            value = str(record.value)
            line = record.start_mark.line + 1
            if not METRIC_NAME.match(value):
                problems.append(
                    Problem(
                        line,
                        f"recording rule name {value!r} is not a metric name: use letters, "
                        "digits, _ and : only (no -, {, } or spaces), e.g. "
                        "job:http_request_errors:ratio_rate5m",
                    )
                )
            elif not LEVEL_METRIC_OPERATIONS.match(value):
                problems.append(
                    Problem(
                        line,
                        f"recording rule name {value!r} does not read level:metric:operations "
                        "(two colons), e.g. job:http_requests:rate5m",
                    )
                )
        labels = rule.get("labels")
        if labels is not None and isinstance(labels, yaml.MappingNode):
            for key, _ in labels.value:
                if key.value == "__name__":
                    problems.append(
                        Problem(key.start_mark.line + 1, "labels must not set __name__")
                    )
    return problems


def check_windows(text: str, scrape_interval: float) -> tuple[list[Problem], list[Problem]]:
    """Return (errors, warnings) for range windows too short for the scrape interval.

    A window under two scrapes can never hold the two samples rate() needs (error);
    under four it comes back empty after one missed scrape (warning). C08.
    """
    errors: list[Problem] = []
    warnings: list[Problem] = []
    for number, code in _expression_lines(text):
        for match in _RANGE.finditer(code):
            try:
                seconds = profiles.parse_duration(match["window"])
            except profiles.ProfileError:
                continue
            if seconds < 2 * scrape_interval:
                errors.append(
                    Problem(
                        number,
                        f"[{match['window']}] spans fewer than two scrapes of "
                        f"{scrape_interval:g}s: rate() over it is always empty; use at "
                        f"least [{4 * scrape_interval:g}s]",
                    )
                )
            elif seconds < 4 * scrape_interval:
                warnings.append(
                    Problem(
                        number,
                        f"[{match['window']}] spans fewer than four scrapes of "
                        f"{scrape_interval:g}s: one missed scrape empties it; "
                        f"[{4 * scrape_interval:g}s] is safer",
                    )
                )
    return errors, warnings


def check_queries(text: str) -> list[Problem]:
    """Return expressions that cannot mean what they say, with their lines.

    Two well-known traps: rate() of an aggregation, where a restarted instance's
    counter reset shows as a huge spike (C11: rate first, then aggregate); and
    histogram_quantile over an aggregation that drops `le`, which is always
    empty (C09).
    """
    problems = []
    for expr in _expr_nodes(text):
        query = str(expr.value)
        for offset, message in _expression_findings(query):
            problems.append(Problem(_line_of(expr, query, offset), message))
    return problems


def expression_problems(query: str) -> list[str]:
    """Return why a PromQL expression cannot mean what it says (see `check_queries`)."""
    return [message for _, message in _expression_findings(query)]


def _expression_findings(query: str) -> list[tuple[int, str]]:
    """Return (offset in `query`, message) for each problem `check_queries` knows."""
    code = _code_only(query)
    found = []
    for call in _RATE_CALL.finditer(code):
        inner = code[call.end() : _closing(code, call.end() - 1)]
        merged = _AGGREGATE_CALL.search(inner)
        if merged:
            name = merged["aggregation"]
            found.append(
                (
                    call.end() + merged.start(),
                    f"{call['function']}() of {name}(...): a counter reset of one instance "
                    "shows as a spike in the total. Rate first, then aggregate: "
                    f"{name}(rate(x[5m]))",
                )
            )
    return sorted(found + _quantile_problems(code))


def validate(text: str, name: str = "candidate.yml", scrape_interval: float = 5.0) -> list[str]:
    """Check names, windows and `promtool check rules`; return warnings.

    Raises:
        RuleError: the first problem, with its line, in plain words.
    """
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = Problem(mark.line + 1 if mark else None, f"{error}")
        raise _refuse("yaml", text, [problem]) from None
    problems = check_names(text)
    if problems:
        raise _refuse("names", text, problems)
    errors, warnings = check_windows(text, scrape_interval)
    if errors:
        raise _refuse("windows", text, errors)
    problems = check_queries(text)
    if problems:
        raise _refuse("queries", text, problems)
    with tempfile.TemporaryDirectory(prefix="promlab-rules-") as tmp:
        path = Path(tmp) / Path(name).name
        path.write_text(text)
        done = _promtool(["check", "rules", path.name], cwd=Path(tmp))
    if done.returncode != 0:
        problems = _promtool_problems(done.stdout + done.stderr, path.name)
        raise _refuse("check", text, [_in_block(p, text) for p in problems])
    return [w.describe(text) for w in warnings]


def test(
    text: str,
    name: str,
    stack: Stack | None = None,
    extra_tests: str | None = None,
) -> str:
    """Run the promtool unit tests that load rule file `name`, with `text` in its place.

    The tests are those of configs/prometheus/tests whose rule_files name the
    file, plus `extra_tests` (a test file's YAML; its rule_files are relative to
    configs/prometheus/tests, e.g. ../rules/<name>). Every other rule file is the
    stack's current one.

    Returns:
        promtool's report.

    Raises:
        RuleError: a test failed, or there is no test for the file; the message
            is promtool's.
    """
    rules_dir = stack.rules_dir if stack else CONFIGS / "prometheus" / "rules"
    with tempfile.TemporaryDirectory(prefix="promlab-ruletest-") as tmp:
        tree = Path(tmp)
        shutil.copytree(rules_dir, tree / "rules", ignore=shutil.ignore_patterns(".*"))
        (tree / "rules" / name).write_text(text)
        (tree / "tests").mkdir()
        chosen = []
        for path in sorted(TESTS_DIR.glob("*.yml")):
            doc = yaml.safe_load(path.read_text()) or {}
            if any(Path(f).name == name for f in doc.get("rule_files") or []):
                shutil.copyfile(path, tree / "tests" / path.name)
                chosen.append(path.name)
        if extra_tests:
            (tree / "tests" / "editor.test.yml").write_text(extra_tests)
            chosen.append("editor.test.yml")
        if not chosen:
            raise RuleError(
                "test",
                f"no promtool test loads {name}: add a test file to configs/prometheus/tests "
                "(or pass extra_tests) that fires each alert and shows it silent",
            )
        done = _promtool(["test", "rules", *chosen], cwd=tree / "tests")
    report = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise RuleError("test", f"promtool test rules failed:\n{report}")
    return report


# -- writing, reloading, confirming -------------------------------------------


def apply(
    stack: Stack,
    name: str,
    text: str,
    extra_tests: str | None = None,
    run_tests: bool = True,
    timeout: float = CONFIRM_TIMEOUT,
) -> ApplyResult:
    """Check, test, write and reload one rule file; confirm Prometheus runs it.

    Raises:
        RuleError: a check or test refused the file; nothing was written.
        RuleApplyError: Prometheus refused the reload or did not load the file;
            the previous file was put back and reloaded.
    """
    result = ApplyResult(name)
    began = time.perf_counter()
    target = check_location(stack, name)
    scrape = profiles.load(stack.profile).seconds("scrape_interval")
    result.warnings = validate(text, name, scrape)
    result.seconds["validate"] = time.perf_counter() - began

    if run_tests:
        began = time.perf_counter()
        test(text, name, stack, extra_tests)
        result.seconds["test"] = time.perf_counter() - began

    began = time.perf_counter()
    previous = target.read_text() if target.is_file() else None
    _write(target, text)
    try:
        stack.reload()
        result.seconds["reload"] = time.perf_counter() - began
        began = time.perf_counter()
        result.groups = confirm(stack, timeout=timeout)
        result.seconds["confirm"] = time.perf_counter() - began
    except Exception as error:
        # Whatever failed after the write, the previous file goes back.
        step = error.step if isinstance(error, RuleApplyError) else "reload"
        why = _loading_errors(stack) if step == "reload" else ""
        restored = _restore(stack, target, previous)
        raise RuleApplyError(step, f"{error}\n{why}{restored}") from None
    log.info("applied %s in %.2f s", name, result.total)
    return result


def remove(stack: Stack, name: str) -> bool:
    """Delete one rule file of the stack, reload and confirm; return whether it existed."""
    target = check_location(stack, name)
    if not target.is_file():
        return False
    previous = target.read_text()
    target.unlink()
    try:
        stack.reload()
        confirm(stack)
    except Exception as error:
        restored = _restore(stack, target, previous)
        raise RuleApplyError("reload", f"{error}\n{restored}") from None
    return True


def grade(
    stack: Stack,
    name: str,
    text: str,
    record: str,
    reference: str,
    tolerance: float = 0.02,
    timeout: float = 45,
) -> str:
    """Apply a learner's recording rule and compare what it records with a raw query.

    Returns:
        "passed: ..." or "not yet: <why>"; never raises for a wrong answer.
    """
    if slo.BLANK in text:
        return f"not yet: fill in every {slo.BLANK} in the rule file"
    try:
        apply(stack, name, text, run_tests=False)
    except (RuleError, RuleApplyError) as error:
        return f"not yet: {error}"
    try:
        recorded = promql.wait_for(record, stack, timeout=timeout)
    except TimeoutError:
        return f"not yet: {record} recorded nothing within {timeout:.0f} s (is traffic on?)"
    raw = promql.query(reference, stack)
    if raw.empty:
        return f"not yet: the reference query returned nothing: {reference}"
    mine, theirs = float(recorded["value"].iloc[0]), float(raw["value"].iloc[0])
    if abs(mine - theirs) > tolerance:
        return f"not yet: {record} is {mine:.3f}, the raw query gives {theirs:.3f}"
    return f"passed: {record} matches the raw query within {tolerance:g}"


def running(stack: Stack) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Return the groups Prometheus runs: {(file name, group): its rules}."""
    answer = requests.get(f"{stack.url('prometheus')}/api/v1/rules", timeout=10)
    answer.raise_for_status()
    stable = ("name", "type", "query", "duration", "labels")
    return {
        (Path(g["file"]).name, g["name"]): [{k: r[k] for k in stable if k in r} for r in g["rules"]]
        for g in answer.json()["data"]["groups"]
    }


def expected(stack: Stack) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Return the groups the stack's rule files hold: {(file name, group): its rules}.

    Read from the folder Prometheus loads, which is rendered from `rules_dir` when
    the profile is not the classroom one. Files ending in .yaml count too: a
    rule_files glob that misses them must show.
    """
    groups = {}
    folder = stack.loaded_rules_dir()
    for path in sorted([*stack.rules_dir.glob("*.yaml"), *folder.glob("*.yml")]):
        doc = yaml.safe_load(path.read_text()) or {}
        for group in doc.get("groups") or []:
            groups[(path.name, group["name"])] = group.get("rules") or []
    return groups


def confirm(stack: Stack, timeout: float = CONFIRM_TIMEOUT) -> list[str]:
    """Wait until Prometheus runs exactly the groups of the stack's rule files.

    Returns:
        The groups, as "file: group".

    Raises:
        RuleApplyError: at the deadline a group was missing, extra or different.
    """
    deadline = time.monotonic() + timeout
    while True:
        wanted = expected(stack)
        differences = compare(wanted, running(stack))
        if not differences:
            return [f"{f}: {g}" for f, g in wanted]
        if time.monotonic() > deadline:
            globs = ", ".join(rule_globs(stack))
            raise RuleApplyError(
                "confirm",
                "Prometheus does not run the rules in "
                f"{stack.rules_dir} (rule_files: {globs}):\n  " + "\n  ".join(differences),
            )
        time.sleep(0.2)


def compare(
    wanted: dict[tuple[str, str], list[dict[str, Any]]],
    got: dict[tuple[str, str], list[dict[str, Any]]],
) -> list[str]:
    """Return the differences between the groups on disk and those Prometheus runs."""
    differences = []
    for key, rules in wanted.items():
        if key not in got:
            differences.append(f"{key[0]}: group {key[1]} is not loaded")
            continue
        mine = [_summary(r) for r in rules]
        theirs = [(r["name"], r["type"], _normal(r["query"])) for r in got[key]]
        for index, (want, have) in enumerate(zip(mine, theirs, strict=False), start=1):
            if want != have:
                differences.append(
                    f"{key[0]}: group {key[1]}, rule {index}: file has {want[0]} "
                    f"({want[1]}), Prometheus runs {have[0]} ({have[1]})"
                    + ("" if want[0] != have[0] else f": {have[2]} instead of {want[2]}")
                )
        if len(mine) != len(theirs):
            differences.append(
                f"{key[0]}: group {key[1]} has {len(mine)} rules, Prometheus runs {len(theirs)}"
            )
    for key in got.keys() - wanted.keys():
        differences.append(f"{key[0]}: group {key[1]} runs but is in no rule file any more")
    return differences


# -- internals -----------------------------------------------------------------


def _rule_nodes(root: yaml.Node | None) -> list[dict[str, yaml.Node]]:
    found = []
    if not isinstance(root, yaml.MappingNode):
        return found
    for key, groups in root.value:
        if key.value != "groups" or not isinstance(groups, yaml.SequenceNode):
            continue
        for group in groups.value:
            if not isinstance(group, yaml.MappingNode):
                continue
            for gkey, rules in group.value:
                if gkey.value == "rules" and isinstance(rules, yaml.SequenceNode):
                    for rule in rules.value:
                        if isinstance(rule, yaml.MappingNode):
                            found.append({k.value: v for k, v in rule.value})
    return found


def _quantile_problems(code: str) -> list[tuple[int, str]]:
    """Return (offset, message) for each histogram_quantile whose buckets lose `le`.

    Every merging aggregation inside the buckets argument must keep `le`, at any
    depth: sum by (le) (sum by (job) (...)) loses it in the inner one.
    """
    found = []
    for match in _QUANTILE.finditer(code):
        begin, argument = _second_argument(code, match.end())
        for head in _AGGREGATE_CALL.finditer(argument):
            grouping = head["grouping"]
            if grouping is None:
                # The clause may also follow the parentheses: sum(...) by (le).
                inner_end = _closing(argument, head.end() - 1)
                trailing = _TRAILING_GROUPING.match(argument, inner_end + 1)
                grouping = trailing.group(0) if trailing else None
            labels, keep = _grouping_labels(grouping)
            if (keep and "le" not in labels) or (not keep and "le" in labels):
                clause = " ".join(grouping.split()) if grouping else "no by clause"
                found.append(
                    (
                        begin + head.start(),
                        f"histogram_quantile over {head['aggregation']} with {clause} drops "
                        "the le label of the buckets, so the result is always empty; keep "
                        f"it: {head['aggregation']} by (le, ...)",
                    )
                )
    return found


def _expression_lines(text: str) -> list[tuple[int, str]]:
    """Return (file line, PromQL line) of every rule's expr, strings and comments blanked.

    A regex in a label matcher may hold "[5s]": only PromQL outside strings counts.
    """
    found = []
    for expr in _expr_nodes(text):
        query = _code_only(str(expr.value))
        offset = 0
        for line in query.splitlines(keepends=True):
            found.append((_line_of(expr, query, offset), line))
            offset += len(line)
    return found


def _expr_nodes(text: str) -> list[yaml.ScalarNode]:
    """Return the expr node of every rule, with its position in the file."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return []
    nodes = (rule.get("expr") for rule in _rule_nodes(root))
    return [node for node in nodes if isinstance(node, yaml.ScalarNode)]


def _line_of(expr: yaml.ScalarNode, query: str, offset: int) -> int:
    """Return the file line of character `offset` of an expr's text.

    A literal block (|) keeps the file's lines, starting on the line after the |;
    other styles fold lines, so their problems point at the expr's first line.
    """
    if expr.style == "|":
        return expr.start_mark.line + 2 + query.count("\n", 0, offset)
    return expr.start_mark.line + (2 if expr.style == ">" else 1)


def _code_only(query: str) -> str:
    """Return `query` with string contents and comments blanked, positions kept."""
    return _STRING_OR_COMMENT.sub(lambda m: " " * len(m.group(0)), query)


def _second_argument(query: str, start: int) -> tuple[int, str]:
    """Return (offset, text) of the second argument of the call opened before `start`.

    The text ends where the call does: what follows the call is not its argument.
    """
    depth = 0
    begin = None
    for index in range(start, len(query)):
        char = query[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                return (begin, query[begin:index]) if begin is not None else (start, "")
            depth -= 1
        elif char == "," and depth == 0:
            if begin is not None:
                return begin, query[begin:index]
            begin = index + 1
    return (begin, query[begin:]) if begin is not None else (start, "")


def _closing(text: str, opening: int) -> int:
    """Return the index of the parenthesis that closes the one at `opening`."""
    depth = 0
    for index in range(opening, len(text)):
        if text[index] == "(":
            depth += 1
        elif text[index] == ")":
            depth -= 1
            if depth == 0:
                return index
    return len(text)


def _grouping_labels(clause: str | None) -> tuple[set[str], bool]:
    """Return (labels, True for by / False for without); no clause keeps nothing."""
    if not clause:
        return set(), True
    keyword, _, rest = clause.strip().partition("(")
    labels = {label.strip() for label in rest.rstrip(") ").split(",") if label.strip()}
    return labels, keyword.strip().lower() == "by"


def _refuse(step: str, text: str, problems: list[Problem]) -> RuleError:
    described = "\n".join(p.describe(text) for p in problems)
    words = {
        "yaml": "the file is not valid YAML",
        "names": "a rule name is invalid",
        "windows": "a range window is too short for the scrape interval",
        "queries": "an expression cannot give what it is meant to",
        "check": "promtool check rules refused it",
    }
    return RuleError(
        step,
        f"{words.get(step, step)}; nothing was written and Prometheus keeps its rules.\n"
        f"{described}",
        problems[0].line,
    )


def _promtool(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    command = [str(binaries.find_binary("promtool")), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def _promtool_problems(output: str, filename: str) -> list[Problem]:
    problems = []
    for raw in output.splitlines():
        line = raw.strip()
        if not line or line.startswith(("Checking", "FAILED", "SUCCESS")):
            continue
        found = _PROMTOOL_LINE.match(line)
        if found:
            problems.append(Problem(int(found["line"]), found["message"]))
            continue
        message = line.removeprefix(f"{filename}:").strip()
        yaml_line = _YAML_LINE.search(message)
        problems.append(Problem(int(yaml_line["line"]) if yaml_line else None, message))
    return problems or [Problem(None, output.strip())]


def _in_block(problem: Problem, text: str) -> Problem:
    # promtool names the line of `expr: |`; PromQL's own "12:1" counts from the
    # block's first line, so the offending line is that many lines further down.
    inner = re.search(r"could not parse expression: (\d+):\d+:", problem.message)
    lines = text.splitlines()
    if inner is None or problem.line is None or problem.line > len(lines):
        return problem
    key = lines[problem.line - 1]
    if not re.search(r":\s*[|>][-+]?\s*$", key):
        return problem
    indent = len(key) - len(key.lstrip())
    block = 0
    for line in lines[problem.line :]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        block += 1
    # Past the block's end means "at the end of the expression": keep the key's line.
    if int(inner[1]) > block:
        return problem
    return Problem(problem.line + int(inner[1]), problem.message)


def _write(target: Path, text: str) -> None:
    # Write beside the target under a name no glob matches, then rename: Prometheus
    # never reads a half-written file.
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(text)
    os.replace(partial, target)


def _loading_errors(stack: Stack) -> str:
    # The HTTP answer only says the reload failed; the log says which rule.
    found = [
        match["err"].replace('\\"', '"')
        for line in stack.logs("prometheus", 30).splitlines()
        if "loading groups failed" in line
        for match in [re.search(r'err="(?P<err>(?:[^"\\]|\\.)*)"', line)]
        if match
    ]
    return f"Prometheus says: {found[-1]}\n" if found else ""


def _restore(stack: Stack, target: Path, previous: str | None) -> str:
    if previous is None:
        target.unlink(missing_ok=True)
    else:
        _write(target, previous)
    try:
        stack.reload()
    except Exception as error:
        return f"The previous {target.name} is back on disk, but reloading it failed: {error}"
    return f"The previous {target.name} is back and Prometheus runs it again."


def _summary(rule: dict[str, Any]) -> tuple[str, str, str]:
    if "alert" in rule:
        return (str(rule["alert"]), "alerting", _normal(str(rule["expr"])))
    return (str(rule.get("record")), "recording", _normal(str(rule["expr"])))


def _normal(expr: str) -> str:
    """Return an expression as comparable text: Prometheus prints what it parsed.

    It drops whitespace, writes "30d" as "4w2d" and 0.10 as 0.1; both sides are
    brought to one form here. (It also moves `by (x)` in front of an aggregation's
    body: write `sum by (x) (...)` as the style guide asks.)
    """
    text = expr.replace("'", '"')
    text = _RANGE.sub(lambda m: f"[{_seconds(m['window'])}]", text)
    text = _NUMBER.sub(lambda m: _number(m[0]), text)
    return re.sub(r"\s+", "", text)


def _number(literal: str) -> str:
    # Prometheus prints 0.10 as 0.1 and 1e3 as 1000.
    value = float(literal)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _seconds(window: str) -> str:
    try:
        return f"{profiles.parse_duration(window):g}s"
    except profiles.ProfileError:
        return window
