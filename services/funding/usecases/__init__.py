"""The application API of the funding service: its use cases, one module per capability (re-exported, no code).

Every use case takes a session inside the caller's unit of work (a view's `ctx().transaction()`, the consumer's
batch): it may flush and never commits. Event reactions are imperative verbs like the rest."""
from services.funding.usecases.budget_lines import (amend_budget_line, create_budget_line, get_budget_line,
                                                    line_balances, list_budget_lines, reverse_journal,
                                                    verify_balances, verify_ledger)
from services.funding.usecases.commitments import (create_commitment, list_commitments, list_receivables,
                                                   open_repayments)
from services.funding.usecases.incentives import list_incentives, reward_excellent_learners
from services.funding.usecases.ledger import list_ledger_entries, trial_balance
from services.funding.usecases.queries import budget_burn, plan_vs_actual, spending_report
from services.funding.usecases.registry import remember_civil_servant
from services.funding.usecases.reservations import get_estimate, release_for_cancel, reserve_for_schedule
from services.funding.usecases.rules import create_norm, import_norms, list_norms, list_rules
from services.funding.usecases.settlement import get_payee_list, get_settlement, settle_course, settle_courses

__all__ = [
    "amend_budget_line", "budget_burn", "create_budget_line", "create_commitment", "create_norm", "get_budget_line",
    "get_estimate", "get_payee_list", "get_settlement", "import_norms", "line_balances", "list_budget_lines",
    "list_commitments", "list_incentives", "list_ledger_entries", "list_norms", "list_receivables", "list_rules",
    "open_repayments", "plan_vs_actual", "release_for_cancel", "remember_civil_servant", "reserve_for_schedule",
    "reverse_journal", "reward_excellent_learners", "settle_course", "settle_courses", "spending_report",
    "trial_balance", "verify_balances", "verify_ledger",
]
