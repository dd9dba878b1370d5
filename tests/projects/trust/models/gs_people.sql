select email, first_name from {{ ref('people') }}
