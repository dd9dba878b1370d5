-- Gainsight Usage_Summary__gc: each company's latest month of product usage.
with latest_usage as (
    select * from {{ ref('int_account_latest_usage') }}
),

accounts as (
    select * from {{ ref('stg_accounts') }}
)

select
    latest_usage.usage_id,
    accounts.company_name,
    latest_usage.usage_month as month,
    latest_usage.active_users,
    latest_usage.logins,
    latest_usage.feature_adoption_pct as feature_adoption,
    latest_usage.last_active_at
from latest_usage
inner join accounts
    on latest_usage.account_id = accounts.account_id
