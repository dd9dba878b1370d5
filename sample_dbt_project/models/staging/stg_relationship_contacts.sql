with source as (
    select * from {{ ref('raw_relationship_contacts') }}
)

select
    subscription_id,
    contact_id,
    relationship_title
from source
