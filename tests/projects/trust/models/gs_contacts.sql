select email, first_name, company from {{ ref('contacts') }}
