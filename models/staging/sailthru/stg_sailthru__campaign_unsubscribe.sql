{{ engagement.stg_sailthru_email_event('campaign_unsubscribe') }}
