with source as (
    select * from {{ ref('raw_contacts') }}
)

select
    contact_id,
    account_id,
    trim(first_name) as first_name,
    trim(last_name) as last_name,
    lower(trim(email)) as email,
    title,
    role as contact_role,
    is_primary,
    opted_out as is_opted_out
from source
