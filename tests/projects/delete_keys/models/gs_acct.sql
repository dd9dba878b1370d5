select * from acct.raw_acct
