"""Reading calls beyond one page: a time window of the call log, what it adds up to, a transcript in windows, and a
call followed while it is in progress."""
