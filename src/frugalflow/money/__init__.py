"""Everything about money: the DuckDB cost ledger, prices, token counts, estimates, budgets, deferrals and alerts."""
