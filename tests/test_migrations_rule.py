"""Every migration follows the expand/contract rule (README "Schema changes while workers run").

The previous release's workers keep running while ``callrobot db upgrade`` runs, so a
migration's ``upgrade()`` may only add: tables, nullable columns (or NOT NULL ones with a server
default), indexes (built ``CONCURRENTLY`` on PostgreSQL when the table already exists) and
constraints. It never drops, renames or retypes what the previous release reads or writes,
and never makes an existing column NOT NULL. Such a step comes one release later, when no
running code uses the thing any more, and is marked on its line (or the line before) with a
``# contract:`` comment saying why that is safe now; this test then lets it through.
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest

from models.migrate import migrations_dir

VERSIONS = migrations_dir() / "versions"
MARKER = "# contract:"
#: Operations that remove or change what running code uses.
DESTRUCTIVE = {
    "drop_table": "drops a table",
    "drop_column": "drops a column",
    "rename_table": "renames a table",
    "execute": None,  # checked by what it says (see _execute_problem)
}
#: Written before the rule: they built an index on a live table under a write lock (tables
#: were small then). Later migrations build such indexes concurrently.
INDEXED_UNDER_LOCK = {"0003_lead_lease_index.py", "0004_outbox_dedupe_key.py"}


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.problem}"


def _marked_lines(source: str) -> set[int]:
    """Lines a ``# contract:`` comment allows (its own line and the next)."""
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and token.string.startswith(MARKER):
            lines |= {token.start[0], token.start[0] + 1}
    return lines


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_false(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _string(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _column_problem(column: ast.expr) -> str | None:
    """An added column that old code's inserts would fail on: NOT NULL without a default."""
    if not (isinstance(column, ast.Call) and getattr(column.func, "attr", "") == "Column"):
        return None
    nullable = _keyword(column, "nullable")
    has_default = _keyword(column, "server_default") is not None
    if _is_false(nullable) and not has_default:
        name = _string(column.args[0]) if column.args else "?"
        return f"adds NOT NULL column {name!r} without a server_default (old inserts fail)"
    return None


def _execute_problem(call: ast.Call) -> str | None:
    sql = (_string(call.args[0]) if call.args else None) or ""
    words = " ".join(sql.upper().split())
    for bad in ("DROP ", "RENAME ", "ALTER COLUMN", "TRUNCATE "):
        if bad in words:
            return f"executes SQL with {bad.strip()}"
    return None


class _UpgradeChecker(ast.NodeVisitor):
    def __init__(self, file: str, marked: set[int], created: set[str]) -> None:
        self.file = file
        self.marked = marked
        self.created = created
        self.findings: list[Finding] = []
        self.batch_table: list[str | None] = []
        self.autocommit = 0

    def report(self, node: ast.AST, problem: str) -> None:
        line = getattr(node, "lineno", 0)
        if line not in self.marked:
            self.findings.append(Finding(self.file, line, problem))

    def visit_With(self, node: ast.With) -> None:
        tables: list[str | None] = []
        autocommit = False
        for item in node.items:
            expr = item.context_expr
            if isinstance(expr, ast.Call):
                name = getattr(expr.func, "attr", "")
                if name == "batch_alter_table":
                    tables.append(_string(expr.args[0]) if expr.args else None)
                autocommit |= name == "autocommit_block"
        self.batch_table.extend(tables)
        self.autocommit += autocommit
        self.generic_visit(node)
        del self.batch_table[len(self.batch_table) - len(tables) :]
        self.autocommit -= autocommit

    def visit_Call(self, node: ast.Call) -> None:
        name = getattr(node.func, "attr", "")
        if name in DESTRUCTIVE:
            problem = DESTRUCTIVE[name] if name != "execute" else _execute_problem(node)
            if problem:
                self.report(node, f"{name}: {problem} that the previous release may use")
        elif name == "alter_column":
            self._alter_column(node)
        elif name == "add_column":
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                problem = _column_problem(arg)
                if problem:
                    self.report(node, problem)
        elif name == "create_index":
            self._create_index(node)
        self.generic_visit(node)

    def _alter_column(self, node: ast.Call) -> None:
        if _keyword(node, "new_column_name") is not None:
            self.report(node, "alter_column renames a column the previous release uses")
        if _keyword(node, "type_") is not None:
            self.report(node, "alter_column changes a column's type the previous release uses")
        if _is_false(_keyword(node, "nullable")):
            self.report(node, "alter_column makes a column NOT NULL (old inserts may fail)")

    def _create_index(self, node: ast.Call) -> None:
        table = self.batch_table[-1] if self.batch_table else None
        if table is None and len(node.args) >= 2:
            table = _string(node.args[1])
        table = table or _string(_keyword(node, "table_name"))
        if table is None or table in self.created:
            return
        concurrently = _is_true(_keyword(node, "postgresql_concurrently"))
        if not (concurrently and self.autocommit):
            self.report(
                node,
                f"create_index on the existing table {table!r} must be built with "
                "postgresql_concurrently=True inside op.get_context().autocommit_block() "
                "(a plain build blocks every write to the table while it runs)",
            )


def _created_tables(upgrade: ast.FunctionDef) -> set[str]:
    created: set[str] = set()
    for node in ast.walk(upgrade):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "create_table":
            name = _string(node.args[0]) if node.args else None
            if name:
                created.add(name)
    return created


def check_migration(source: str, file: str) -> list[Finding]:
    """Where ``upgrade()`` in a migration's ``source`` breaks the expand/contract rule."""
    tree = ast.parse(source, filename=file)
    upgrade = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"), None
    )
    if upgrade is None:
        return [Finding(file, 1, "no upgrade() function")]
    checker = _UpgradeChecker(file, _marked_lines(source), _created_tables(upgrade))
    checker.visit(upgrade)
    if file in INDEXED_UNDER_LOCK:
        checker.findings = [f for f in checker.findings if "create_index" not in f.problem]
    return checker.findings


MIGRATIONS = sorted(VERSIONS.glob("*.py"))


@pytest.mark.parametrize("path", MIGRATIONS, ids=[p.stem for p in MIGRATIONS])
def test_every_migration_only_expands(path: Path) -> None:
    findings = check_migration(path.read_text(encoding="utf-8"), path.name)
    assert not findings, "\n".join(map(str, findings))


def test_there_are_migrations_to_check() -> None:
    assert len(MIGRATIONS) >= 9


HEADER = "from alembic import op\nimport sqlalchemy as sa\n\n"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('    op.drop_column("call", "error")\n', "drops a column"),
        (
            '    with op.batch_alter_table("lead") as batch_op:\n'
            '        batch_op.drop_column("status_reason")\n',
            "drops a column",
        ),
        ('    op.drop_table("dnc_entry")\n', "drops a table"),
        ('    op.rename_table("call", "calls")\n', "renames a table"),
        (
            '    op.alter_column("lead", "number", new_column_name="phone")\n',
            "renames a column",
        ),
        ('    op.alter_column("lead", "timezone", nullable=False)\n', "NOT NULL"),
        ('    op.alter_column("call", "q850", type_=sa.String(8))\n', "type"),
        ('    op.execute("ALTER TABLE lead DROP COLUMN timezone")\n', "DROP"),
        (
            '    op.add_column("call", sa.Column("cost", sa.Integer(), nullable=False))\n',
            "without a server_default",
        ),
        ('    op.create_index("ix_call_number", "call", ["number"])\n', "concurrently"),
        (
            '    with op.batch_alter_table("call") as batch_op:\n'
            '        batch_op.create_index("ix_call_number", ["number"])\n',
            "concurrently",
        ),
    ],
)
def test_the_check_finds_each_destructive_step(body: str, problem: str) -> None:
    source = f"{HEADER}def upgrade() -> None:\n{body}"
    findings = check_migration(source, "0099_example.py")
    assert len(findings) == 1, findings
    assert problem in findings[0].problem
    line = 4 + body.count("\n")  # the step is the body's last line
    assert findings[0].line == line
    assert str(findings[0]).startswith(f"0099_example.py:{line}: ")


@pytest.mark.parametrize(
    "body",
    [
        '    op.add_column("call", sa.Column("cost", sa.Integer(), nullable=True))\n',
        '    op.add_column("call", sa.Column("n", sa.Integer(), nullable=False,'
        ' server_default="0"))\n',
        '    op.create_table("cost", sa.Column("id", sa.Integer()))\n'
        '    op.create_index("ix_cost_id", "cost", ["id"])\n',
        "    with op.get_context().autocommit_block():\n"
        '        op.create_index("ix_call_number", "call", ["number"],'
        " postgresql_concurrently=True)\n",
        "    # contract: lead.legacy is unread since release 2026.12 (migration 0010)\n"
        '    op.drop_column("lead", "legacy")\n',
        '    op.drop_column("lead", "legacy")  # contract: unread since 0010\n',
        '    op.alter_column("lead", "timezone", nullable=True)\n',
    ],
)
def test_the_check_lets_expanding_and_marked_steps_through(body: str) -> None:
    source = f"{HEADER}def upgrade() -> None:\n{body}"
    assert check_migration(source, "0099_example.py") == []


def test_downgrades_may_drop() -> None:
    source = (
        f"{HEADER}def upgrade() -> None:\n"
        '    op.add_column("call", sa.Column("cost", sa.Integer(), nullable=True))\n\n\n'
        'def downgrade() -> None:\n    op.drop_column("call", "cost")\n'
    )
    assert check_migration(source, "0099_example.py") == []
