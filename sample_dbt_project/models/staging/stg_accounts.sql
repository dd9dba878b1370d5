with source as (
    select * from {{ ref('raw_accounts') }}
)

select
    account_id,
    trim(account_name) as company_name,
    industry,
    lifecycle_stage,
    account_status,
    arr,
    employees,
    lower(trim(csm_email)) as csm_email,
    contract_start_date,
    renewal_date
from source
