#!/usr/bin/env bash
# One case from hazard report to its final payment with curl, against the demo city (./scripts/demo).
# The acts happened offline over the last days and are recorded now, each with the day it
# happened (occurred_at): the 7-day public notice, posted 8 days ago, may close today.
# Runs again and again (each run records a new case).
# Usage: API=http://127.0.0.1:8000/api/v1 bash docs/walkthrough.sh
set -euo pipefail
API=${API:-http://127.0.0.1:8000/api/v1}
J='Content-Type: application/json'
login() {  # the demo users' password is fundflow-demo
  curl -sf -X POST "$API/login" -H "$J" -d "{\"username\":\"$1\",\"password\":\"fundflow-demo\"}" |
    python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])'
}
SO=$(login so_yuetang)      # 月塘街道 (street office)
FR=$(login fr_hetang)       # 荷塘区消防救援 (fire authority)
FC=$(login fund_center)     # 维修资金管理中心 (fund center)
PC=$(login pc_guiyuan)      # 桂园新村物业 (property company)
OC=$(login oc_guiyuan)      # 桂园新村业委会 (owners' committee)
field() { python3 -c "import sys, json; d = json.load(sys.stdin); print(d$1)"; }
fire() {  # fire TOKEN CASE TRIGGER JSON-DATA [OCCURRED_AT]: the act, and the day it happened
  curl -sf -X POST "$API/cases/$2/transitions" -H "Authorization: Bearer $1" -H "$J" \
    -d "{\"trigger\":\"$3\",\"data\":$4,\"occurred_at\":\"${5:-$TODAY}\"}" | field '["state_label"]'
}
upload() {  # upload TOKEN CASE DOC_TYPE
  echo "$3 of case $2" > "/tmp/fundflow-$3.txt"
  curl -sf -X POST "$API/cases/$2/documents" -H "Authorization: Bearer $1" \
    -F "doc_type=$3" -F "file=@/tmp/fundflow-$3.txt" > /dev/null
}
vote() {  # vote CASE PARTY VOTE: the street office records each party's vote as convener
  curl -sf -X POST "$API/cases/$1/votes" -H "Authorization: Bearer $SO" -H "$J" \
    -d "{\"party\":\"$2\",\"attended\":true,\"vote\":\"$3\",\"opinion\":\"同意按应急程序使用维修资金\"}" > /dev/null
}
day() {  # the day N days from today, in Beijing time as the server counts
  python3 -c "import datetime as d, zoneinfo as z; print(d.datetime.now(z.ZoneInfo('Asia/Shanghai')).date() + d.timedelta(days=$1))"
}
TODAY=$(day 0); D9=$(day -9); D8=$(day -8); IN30=$(day 30)

# 1. Report, nine days ago: building 1 of 桂园新村 (community 1), its fire pump is dead
CASE=$(curl -sf -X POST "$API/cases" -H "Authorization: Bearer $SO" -H "$J" -d "{
  \"definition\": \"fire_hazard_emergency\", \"community_id\": 1, \"title\": \"1栋消防水泵无法启动\",
  \"buildings\": [\"1栋\"], \"data\": {\"hazard\": \"消防水泵损坏，火灾自动报警系统故障\"}, \"occurred_at\": \"$D9\"}" | field '["id"]')
upload "$SO" "$CASE" hazard_photos
# 2. The fire authority's finding, with its written notice (only the fire authority may upload it)
upload "$FR" "$CASE" fire_notice
fire "$FR" "$CASE" confirm_major '{"notice_no":"株荷消隐字〔2026〕18号","finding_route":"direct","hazard_elements":"消防水泵无法启动"}' "$D9"
# 3. Site survey (Dongguan: 2 working days from the report)
upload "$SO" "$CASE" site_record
fire "$SO" "$CASE" complete_survey "{\"survey_date\":\"$D8\",\"survey_findings\":\"水泵电机烧毁\"}" "$D8"
# 4. The six-party joint meeting: votes, minutes, and the decision on who pays (building 1)
for p in street_office fund_center fire_rescue residents_committee owners_committee property_company; do vote "$CASE" $p agree; done
upload "$SO" "$CASE" meeting_minutes; upload "$SO" "$CASE" sign_in_sheet
fire "$SO" "$CASE" meeting_approve '{"paying_scope":{"buildings":["1栋"]},"scope_reason":"水泵仅供1栋使用，由1栋业主分摊","budget_estimate":"8600","implementer":"property_company"}' "$D8"
# 5. Plan and budget; cost review
upload "$PC" "$CASE" repair_plan; upload "$PC" "$CASE" budget
fire "$PC" "$CASE" submit_plan "{\"budget_amount\":\"8560.00\",\"rectification_deadline\":\"$IN30\"}" "$D8"
upload "$FC" "$CASE" cost_review_report
fire "$FC" "$CASE" confirm_cost '{"reviewed_amount":"8425.00"}' "$D8"
# 6. Fund review: approved within the balance of building 1's ledgers
upload "$FC" "$CASE" application_form
fire "$FC" "$CASE" approve '{"approved_amount":"8425.00","approval_opinion":"同意应急使用"}' "$D8"
# 7. No advance under CNY 100,000 (Shenzhen rule): paid after the works
fire "$FC" "$CASE" skip_advance '{}' "$D8"
# 8. Works
upload "$PC" "$CASE" construction_contract
fire "$PC" "$CASE" complete_works "{\"completion_date\":\"$D8\"}" "$D8"
# 9. Acceptance: four parties sign on the visit, then the street office passes it
for t in "$FR" "$SO" "$FC" "$OC"; do fire "$t" "$CASE" sign_acceptance '{"opinion":"合格"}' "$D8" > /dev/null; done
upload "$SO" "$CASE" acceptance_report
fire "$SO" "$CASE" pass_acceptance '{}' "$D8"
# 10. Settlement
upload "$PC" "$CASE" settlement_statement; upload "$PC" "$CASE" invoices
fire "$PC" "$CASE" submit_settlement '{"settled_amount":"8398.04"}' "$D8"
# 11. Public notice: each owner's share, by floor area, exact to the fen, posted 8 days ago
upload "$SO" "$CASE" notice_text; upload "$SO" "$CASE" cost_table
curl -sf "$API/cases/$CASE/apportionment" -H "Authorization: Bearer $SO" | field '["total"], d["households"]'
curl -sf "$API/cases/$CASE/apportionment.xlsx" -H "Authorization: Bearer $SO" -o "/tmp/fundflow-apportionment-$CASE.xlsx"
fire "$SO" "$CASE" post_notice '{"notice_place":"小区公示栏"}' "$D8" > /dev/null
upload "$SO" "$CASE" notice_photos
# An act may not be dated in the future (409 with the reason):
curl -s -X POST "$API/cases/$CASE/transitions" -H "Authorization: Bearer $SO" -H "$J" \
  -d "{\"trigger\":\"close_notice\",\"data\":{},\"occurred_at\":\"$(day 1)\"}" | field '["message"]'
# "not less than 7 days" from the posting: it closes today
fire "$SO" "$CASE" close_notice '{}'
# 12. The final payment: the settlement less what was advanced and the 10% retention (质保金),
# which stays frozen in the owners' ledgers for the one-year warranty, then is paid and archived.
DUE=$(curl -sf "$API/cases/$CASE" -H "Authorization: Bearer $FC" |
  python3 -c "import sys, json; from decimal import Decimal as D; m = json.load(sys.stdin)['money']; s = D(m['settled']); print(s - (s / 10).quantize(D('0.01'), 'ROUND_HALF_UP') - D(m['paid'] or 0))")
fire "$FC" "$CASE" disburse "{\"paid_amount\":\"$DUE\"}"
curl -sf "$API/cases/$CASE" -H "Authorization: Bearer $FC" | field '["money"]["retention_held"], d["money"]["frozen"]'
curl -sf "$API/cases/$CASE/events" -H "Authorization: Bearer $FC" | python3 -c "
import sys, json
events = json.load(sys.stdin)
meeting = next(e for e in events if e['trigger'] == 'meeting_approve')
print('meeting held', meeting['occurred_at'][:10], 'recorded', meeting['at'][:10])
print(len(events), 'events, chained')"
curl -sf "$API/stats" -H "Authorization: Bearer $FC" | field '["city"]'
