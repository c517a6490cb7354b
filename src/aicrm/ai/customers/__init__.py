"""Customer insights: churn risk, lifetime value, next best action and best time to contact.

A "customer" is a Contact. The pieces:

- `signals`: what is known about each customer, gathered by pluggable signal sources (standard
  fields, custom fields, activities, purchases = won deals, open deals, tasks; tickets, sentiment
  and payments plug in the same way once those tables exist);
- `features`: turns those facts into a numeric design matrix fitted per organization
  (numbers as is with spline terms, categories one-hot, "Yes"/"No" strings as 1/0);
- `churn`: a per-organization logistic model trained on churned vs retained customers, or
  cold-start rules while an organization has too few outcomes;
- `lifetime`: BG/NBD + Gamma-Gamma (aicrm.ai.clv) fitted per organization on purchase
  histories, or a historical-average fallback;
- `timing`: best hour and weekday to reach a customer, from their own response history shrunk
  towards the organization's;
- `actions`: the next best action, from all of the above plus open deals and tasks;
- `service`: the orchestration behind `GET /api/v1/customers/{id}/insights`, training and
  bulk scoring.
"""
