"""Evaluation results of 保険者機能強化推進交付金・介護保険保険者努力支援交付金 (design.md §2.4): intake of the
ministry's yearly workbook, and a year-over-year analysis per prefecture."""
