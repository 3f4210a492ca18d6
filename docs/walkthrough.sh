#!/usr/bin/env bash
# One case from hazard report to public notice with curl, against the demo city
# (./scripts/demo), then the last stages on a seeded case whose 7-day notice has run.
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
fire() {  # fire TOKEN CASE TRIGGER JSON-DATA
  curl -sf -X POST "$API/cases/$2/transitions" -H "Authorization: Bearer $1" -H "$J" \
    -d "{\"trigger\":\"$3\",\"data\":$4}" | field '["state_label"]'
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
IN30=$(python3 -c 'import datetime; print(datetime.date.today() + datetime.timedelta(days=30))')
TODAY=$(python3 -c 'import datetime; print(datetime.date.today())')

# 1. Report: building 1 of 桂园新村 (community 1), its fire pump is dead
CASE=$(curl -sf -X POST "$API/cases" -H "Authorization: Bearer $SO" -H "$J" -d '{
  "definition": "fire_hazard_emergency", "community_id": 1, "title": "1栋消防水泵无法启动",
  "buildings": ["1栋"], "data": {"hazard": "消防水泵损坏，火灾自动报警系统故障"}}' | field '["id"]')
upload "$SO" "$CASE" hazard_photos
# 2. The fire authority's finding, with its written notice
upload "$FR" "$CASE" fire_notice
fire "$FR" "$CASE" confirm_major '{"notice_no":"株荷消隐字〔2026〕18号","finding_route":"direct","hazard_elements":"消防水泵无法启动"}'
# 3. Site survey
upload "$SO" "$CASE" site_record
fire "$SO" "$CASE" complete_survey "{\"survey_date\":\"$TODAY\",\"survey_findings\":\"水泵电机烧毁\"}"
# 4. The six-party joint meeting: votes, minutes, decision
for p in street_office fund_center fire_rescue residents_committee owners_committee property_company; do vote "$CASE" $p agree; done
upload "$SO" "$CASE" meeting_minutes; upload "$SO" "$CASE" sign_in_sheet
fire "$SO" "$CASE" meeting_approve '{"budget_estimate":"86000","implementer":"property_company"}'
# 5. Plan and budget; cost review
upload "$PC" "$CASE" repair_plan; upload "$PC" "$CASE" budget
fire "$PC" "$CASE" submit_plan "{\"budget_amount\":\"85600.00\",\"rectification_deadline\":\"$IN30\"}"
upload "$FC" "$CASE" cost_review_report
fire "$FC" "$CASE" confirm_cost '{"reviewed_amount":"84250.00"}'
# 6. Fund review: approved within the balance of building 1's ledgers
upload "$FC" "$CASE" application_form
fire "$FC" "$CASE" approve '{"approved_amount":"84250.00","approval_opinion":"同意应急使用"}'
# 7. No advance under CNY 100,000 (Shenzhen rule): paid after the works
fire "$FC" "$CASE" skip_advance '{}'
# 8. Works
upload "$PC" "$CASE" construction_contract
fire "$PC" "$CASE" complete_works "{\"completion_date\":\"$TODAY\"}"
# 9. Acceptance: four parties sign, then the street office passes it
for t in "$FR" "$SO" "$FC" "$OC"; do fire "$t" "$CASE" sign_acceptance '{"opinion":"合格"}' > /dev/null; done
upload "$SO" "$CASE" acceptance_report
fire "$SO" "$CASE" pass_acceptance '{}'
# 10. Settlement
upload "$PC" "$CASE" settlement_statement; upload "$PC" "$CASE" invoices
fire "$PC" "$CASE" submit_settlement '{"settled_amount":"83980.40"}'
# 11. Public notice: each owner's share, by floor area, exact to the fen
upload "$SO" "$CASE" notice_text; upload "$SO" "$CASE" notice_photos; upload "$SO" "$CASE" cost_table
curl -sf "$API/cases/$CASE/apportionment" -H "Authorization: Bearer $SO" | field '["total"], d["households"]'
curl -sf "$API/cases/$CASE/apportionment.xlsx" -H "Authorization: Bearer $SO" -o "/tmp/fundflow-apportionment-$CASE.xlsx"
curl -sf "$API/cases/$CASE" -H "Authorization: Bearer $SO" | field '["stage"]["due_date"], d["stage"]["label"]'
# Closing the notice now is refused: it must stay up 7 calendar days (409 with the reason).
curl -s -X POST "$API/cases/$CASE/transitions" -H "Authorization: Bearer $SO" -H "$J" \
  -d '{"trigger":"close_notice","data":{}}' | field '["message"]'

# 12-13. The rest, on the seeded case whose 7-day notice has run: 织锦新村 of 庆云街道,
# with one owner's objection still to answer.
OLD=$(curl -sf "$API/cases?state=public_notice" -H "Authorization: Bearer $FC" |
  python3 -c "import sys, json; print([c['id'] for c in json.load(sys.stdin)['items'] if c['id'] != $CASE][0])")
SOQ=$(login so_qingyun)     # 庆云街道 (its street office)
fire "$SOQ" "$OLD" answer_objection '{"answer":"分摊按不动产登记建筑面积计算，已当面解释"}'
fire "$SOQ" "$OLD" close_notice '{}'
# The final payment: the settlement less what was advanced and the 10% retention (质保金),
# which stays frozen in the owners' ledgers for the one-year warranty.
DUE=$(curl -sf "$API/cases/$OLD" -H "Authorization: Bearer $FC" |
  python3 -c "import sys, json; from decimal import Decimal as D; m = json.load(sys.stdin)['money']; s = D(m['settled']); print(s - (s / 10).quantize(D('0.01'), 'ROUND_HALF_UP') - D(m['paid'] or 0))")
fire "$FC" "$OLD" disburse "{\"paid_amount\":\"$DUE\"}"
curl -sf "$API/cases/$OLD" -H "Authorization: Bearer $FC" | field '["money"]["retention_held"], d["money"]["frozen"]'
# 13. Archive a seeded case whose warranty is over and its retention paid: 石岭雅苑 of 响石岭街道
ARC=$(curl -sf "$API/cases?state=archiving" -H "Authorization: Bearer $FC" |
  python3 -c "import sys, json; print(json.load(sys.stdin)['items'][0]['id'])")
SOX=$(login so_xiangshiling)
fire "$SOX" "$ARC" archive '{"archive_no":"XSL-2026-007"}'
curl -sf "$API/cases/$ARC/events" -H "Authorization: Bearer $FC" | python3 -c "import sys, json; print(len(json.load(sys.stdin)), 'events, chained')"
curl -sf "$API/stats" -H "Authorization: Bearer $FC" | field '["city"]'
