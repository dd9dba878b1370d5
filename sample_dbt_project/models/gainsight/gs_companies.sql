-- Gainsight Company: one row per customer account.
with accounts as (
    select * from {{ ref('stg_accounts') }}
),

latest_usage as (
    select * from {{ ref('int_account_latest_usage') }}
)

select
    accounts.account_id,
    accounts.company_name,
    accounts.arr,
    cast(round(accounts.arr / 12, 2) as decimal(14, 2)) as mrr,
    accounts.industry,
    accounts.lifecycle_stage as stage,
    accounts.account_status as status,
    accounts.renewal_date,
    accounts.contract_start_date,
    accounts.employees,
    case when latest_usage.is_current_month then latest_usage.active_users else 0 end as active_users,
    accounts.csm_email
from accounts
left join latest_usage
    on accounts.account_id = latest_usage.account_id
