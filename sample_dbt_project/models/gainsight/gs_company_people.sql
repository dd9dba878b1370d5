-- Gainsight Company Person: every contact, linked to their company.
with contacts as (
    select * from {{ ref('stg_contacts') }}
),

accounts as (
    select * from {{ ref('stg_accounts') }}
)

select
    contacts.contact_id,
    contacts.email,
    contacts.first_name,
    contacts.last_name,
    accounts.company_name,
    contacts.title,
    contacts.contact_role as role,
    contacts.is_primary
from contacts
inner join accounts
    on contacts.account_id = accounts.account_id
