-- Demo subscriber lists for a local run; safe to apply again.
INSERT INTO subscriber_lists (slug, title, url, description) VALUES
    ('foreign-travel-advice-france', 'Foreign travel advice: France', '/foreign-travel-advice/france',
     'Changes to the travel advice for France'),
    ('hmrc-tax-updates', 'HMRC: tax and National Insurance updates', '/government/organisations/hm-revenue-customs',
     'News, guidance and forms from HM Revenue & Customs')
ON CONFLICT (slug) DO NOTHING;
