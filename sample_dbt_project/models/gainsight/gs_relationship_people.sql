-- Gainsight Relationship Person: contacts attached to a relationship (product line).
with relationship_contacts as (
    select * from {{ ref('stg_relationship_contacts') }}
),

contacts as (
    select * from {{ ref('stg_contacts') }}
),

subscriptions as (
    select * from {{ ref('stg_subscriptions') }}
)

select
    contacts.contact_id,
    subscriptions.subscription_id,
    contacts.email,
    contacts.first_name,
    contacts.last_name,
    subscriptions.relationship_name,
    relationship_contacts.relationship_title as title
from relationship_contacts
inner join contacts
    on relationship_contacts.contact_id = contacts.contact_id
inner join subscriptions
    on relationship_contacts.subscription_id = subscriptions.subscription_id
