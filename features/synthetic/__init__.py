"""Seeded synthetic data in the data contract, with the latent truth that produced it.

:func:`generate` simulates a customer base month by month from a small generative model
and writes the six contract tables (``customers``, ``transactions``, ``support_tickets``,
``surveys``, ``offers``, ``events``) plus ``ground_truth.parquet``. It is the demo's and the tests'
data: churn and spend carry real, learnable signal, and the truth behind them is known.

The model, per customer (all rates per calendar month unless stated):

* **Acquisition.** An initial base that signed up in the 36 months before ``start``
  (survivors, denser towards ``start``) and new signups every month after it, growing
  1.5 %/month with a seasonal pattern (January and November/December peaks).
  Customer ids ``1..N`` follow signup time.
* **Latent traits.** A segment; a purchase rate ``lambda`` (orders per day, Gamma
  heterogeneity as in BG/NBD); a mean order value (log-normal); a base monthly hazard
  (logit-normal around the segment's level, lower for frequent buyers and higher
  tiers, higher for the ``partner`` channel); a usual satisfaction level (slightly
  lower for the riskier); ~40 % are subscription customers, of whom ~30 % (more on
  dearer plans) are billed annually (10 monthly fees at signup and at each 12-month
  renewal) and the rest monthly. The billing term is not a contract column: it shows
  in the fee rows, and ``ground_truth.parquet`` holds it (``annual_billing``). The
  initial base is resampled as survivors of its cohort (less risky, more engaged,
  more satisfied). The loyalty tier is set at signup from the expected value.
* **Engagement** ``z`` follows an AR(1) process. The order rate is ``lambda * exp(z)``
  times seasonality (November/December peak), so customers slow down before leaving.
  **Satisfaction** is the usual level plus a slow AR(1) deviation, a little
  engagement, minus recent bad support.
* **Churn.** The monthly hazard is ``sigmoid(logit(base) + drift(z) + support(bad) +
  detractor(satisfaction) + plan_fit + discount_withdrawal + new_customer(tenure) +
  loyalty(tenure) + january - offer_uplift)`` where, deliberately non-linear as real
  churn is:

  - ``drift``: mild for ups and downs around the customer's own rhythm, a jump
    (+2 logit) once engagement falls well below it (slowdowns matter relative to
    the customer's usual purchase gap, not in absolute days);
  - ``support``: a step once the bad-support score passes one bad ticket in recent
    months (two for gold and platinum customers, who shrug off one), largest for the
    ``service_sensitive`` segment;
  - ``detractor``: a step for very unhappy customers (NPS about 0–4); the satisfied
    barely differ;
  - ``plan_fit``: subscribers paying for more plan than they use (premium with hardly
    any orders) are at risk; heavy users and non-subscribers are not;
  - ``discount_withdrawal``: price-sensitive customers (bargain hunters, some bronze
    and silver) are at risk for two months after an accepted discount or free month
    runs out;
  - ``new_customer``: a high hazard in the first months, decaying within a quarter
    (L-shaped tenure), then a slow loyalty gain over two years.

  Monthly subscribers and non-contractual customers leave at any time in the month.
  Annual subscribers can only leave at a renewal (the billing day 12, 24, ... months
  after signup; ``cancelled_at`` is that day) with the chance of ``renewal_months``
  (9) months of their hazard then, and never in between: the hazard is periodic in
  tenure. The hazard stays a smooth function of the latent state, so a classifier
  can be calibrated, but not a linear one of the observable history.
* **Support.** Tickets arrive Poisson (more when engagement is low and for the
  ``service_sensitive`` segment); resolution time is log-normal; every ticket adds a
  little to a ``bad_support`` score and a slow (> 72 h), escalated or badly rated one
  adds about one; the score decays by 20 %/month.
* **Surveys.** ~14 % of active customers answer each month; NPS, CSAT and CES are
  noisy reads of the latent satisfaction (CES also of bad support experience).
* **Offers.** Campaign months target a random share of active customers, more of the
  disengaged, the badly served and those at high current hazard (confounded as real
  marketing is: offered customers are riskier, and ``features.synthetic.offer_truth``
  says what each offer truly saves); an accepted offer lowers the hazard for three
  months by a per-customer uplift that differs by offer (discounts work on the price
  sensitive and low tiers, VIP upgrades on high value, free months on subscribers,
  call-backs after bad support).
* **Refunds.** ~3 % of orders are refunded 1–14 days later as a separate row.
* **Engagement events** (``events``: sessions, logins, e-mail opens and clicks, reviews,
  referrals) follow the same engagement ``z`` with noise and seasonality, from a random
  stream of their own, and fade in the weeks before a churn
  (:mod:`features.synthetic.engagement`).

Parameters are calibrated so that the mean monthly churn rate among active customers
is about 6.5 % (5–8 %). Customers are simulated in fixed blocks of
``BLOCK_CUSTOMERS`` with independent random streams spawned from the seed, so the
data depend only on the arguments that shape them, never on ``chunk_customers``.

The modules, by what they simulate: ``params`` (every number of the model, the
vocabularies, time units), ``timeline`` (the month grid, acquisition curve, campaigns),
``customers`` (traits at signup, survivors, offer uplifts), ``hazard`` (the hazard's
terms), ``churn`` (the monthly state, hazard and deaths), ``activity`` (orders, fees,
tickets, surveys, offers), ``simulate`` (one block over the window), ``tables`` (schemas
and the file writer), ``draws`` (link functions, random draws) and ``generation``
(:func:`generate` itself).
"""

from features.synthetic.generation import GenerationSummary, generate
from features.synthetic.params import (
    BLOCK_CUSTOMERS,
    EVENTS_PER_TRANSACTION,
    OFFER_IDS,
    TRANSACTIONS_PER_CUSTOMER,
)
from features.synthetic.tables import FILE_FORMATS, GROUND_TRUTH, SCHEMAS, TABLES, FileFormat

__all__ = [
    "BLOCK_CUSTOMERS",
    "EVENTS_PER_TRANSACTION",
    "FILE_FORMATS",
    "GROUND_TRUTH",
    "OFFER_IDS",
    "SCHEMAS",
    "TABLES",
    "TRANSACTIONS_PER_CUSTOMER",
    "FileFormat",
    "GenerationSummary",
    "generate",
]
