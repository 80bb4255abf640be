#!/usr/bin/env ruby
# frozen_string_literal: true

# Writes crates/convo-domain/tests/data/ruby_time_parse.tsv: every input below read by Ruby's own
# `Time.parse(input, NOW)` in UTC, next to what the project's parser returns where it deliberately
# differs (ADR 0005). The test crates/convo-domain/tests/ruby_time_parse.rs checks the parser
# against every row, so the comparison holds without Ruby at test time.
#
# Usage (Ruby 3.1, e.g. Debian's `apt-get install ruby`): ruby scripts/ruby-dates.rb
#
# Columns, tab-separated: input (with \\, \t, \n and \r escaped), Ruby's instant as RFC 3339 UTC
# or "error", then, only on rows where the project differs, the project's answer and why.

ENV['TZ'] = 'UTC'
require 'time'

# The reference "now" of every row; the test passes the same instant to the parser.
NOW = Time.utc(2026, 5, 1, 12, 0, 0)
TABLE = File.expand_path('../crates/convo-domain/tests/data/ruby_time_parse.tsv', __dir__)

# One input per line; lines starting with "# " are comments. Inputs that need escapes (empty,
# whitespace only, control characters) are in SPECIAL below.
LISTED = <<~'INPUTS'
  # Spec §4 and the seed (update-conversation.txt).
  Wed May 06 2026 13:31:21 GMT+0300 (Israel Daylight Time)
  2026-05-06T10:31:21Z
  2026-05-06T10:31:21.000Z
  2026-05-06T13:31:21+03:00
  Wed, 06 May 2026 10:31:21 GMT
  # Seed examples are the spec's: above. The existing table of the parser's own tests:
  Wed May 06 2026 13:31:21 GMT+0300 (Israel Daylight Time)
  2026-05-06T10:31:21Z
  2026-05-06T10:31:21.000Z
  2026-05-06T13:31:21+03:00
  2026-05-06 13:31:21 +0300
  2026-05-06T13:31:21+03
  Wed, 06 May 2026 10:31:21 GMT
  Tue May 05 2026 20:31:21 GMT-1400 (Far West Time)
  Thu May 07 2026 00:31:21 GMT+1400 (Line Islands Time)
  Wed May 06 2026 03:31:21 GMT-0700 (Pacific Daylight Time)
  Wed May 06 2026 16:01:21 GMT+0530 (India (Standard) Time)
  Wed May 06 2026 13:31:21 GMT+0300 (שעון ישראל (קיץ))
  Wed May 06 2026 13:31:21 GMT+0300
  Wed May 06 2026 13:31:21 GMT+0300 (Israel
  2026-05-06 03:31:21 UTC-07:00
  2026-05-06 03:31:21 -0700
  2026-05-06 03:31:21 -07:00
  2026-05-06 13:31:21 +03:00
  2026-05-06 13:31:21 GMT+03:00
  2026-05-06 13:31:21 UTC+3
  2026-05-06 13:31:21 utc+0300
  2026-05-06 16:01:21+0530
  2026-05-06 11:01:21 +030
  2026-05-06 13:31:21 GMT +0300
  2026-05-06 10:31:21 +24:00
  2026-05-06 10:31:21 +03:60
  2026-05-06 10:31:21 +030000
  2026-05-06 10:31:21 UTC
  2026-05-06 10:31:21 gmt
  2026-05-06 10:31:21 z
  2026-05-06 05:31:21 EST
  2026-05-06 06:31:21 EDT
  2026-05-06 04:31:21 CST
  2026-05-06 05:31:21 CDT
  2026-05-06 03:31:21 MST
  2026-05-06 04:31:21 MDT
  2026-05-06 02:31:21 PST
  2026-05-06 03:31:21 pdt
  2026-05-06 10:31:21 CET
  2026-05-06 UTC
  2026-05-06 10:31:21
  2026-05-06T10:31:21
  2026-05-06
  May 6, 2026
  May 6
  6 May 10:00
  6th May
  December 25
  May 2027
  10:30
  01:30 -0300
  06/05/2026
  6/5/2026 13:31
  13/05/2026
  05/13/2026
  06-05-2026
  06.05.2026 10:31:21
  2026/05/06 10:31:21
  05/06
  06-May-2026 10:31:21
  2026-may-06
  06/05/26
  2026/05
  6/5/2026/1
  6 MAY 2026
  6 september 2026
  Sept. 6 2026
  2026 May 6
  Wed May 6 10:31:21 2026
  1st Jan 2027
  6 2026 May
  May 6 May
  Fri May 06 2026 10:31:21
  Wednesday, May 6, 2026 at 1:31 PM
  Wed
  Wed Thu May 6
  2026-05-06 1:31 PM
  2026-05-06 1:31PM
  May 6 2026 1pm
  May 6 2026 1 p.m.
  2026-05-06 12:00 am
  2026-05-06 12:00 pm
  2026-05-06 10:31:21 AM EDT
  2026-05-06 13:00 pm
  2026-05-06 0:30 am
  2026-05-06T10:31:21.5Z
  2026-05-06T10:31:21,25Z
  2026-05-06T13:31:21.123456+03:00
  2026-05-06T10:31:21.1234567891Z
  2026-05-06T10:31:21.Z
  2026-01-01T01:00:00+03:00
  2026-12-31T22:00:00-05:00
  2026-05-31 23:30 -0100
  2026-03-01 00:30 +01:00
  2028-03-01 00:30 +01:00
  2028-02-29
  29 Feb 2028 10:00
  2026-02-29
  2026-02-30
  31/04/2026
  2026-13-01
  2026-00-10
  2026-05-00
  May 32 2026
  2026-05-06 25:00
  2026-05-06 24:00
  2026-05-06 10:60
  2026-05-06 10:00:60
  2026-05-06 10:5
  not a date
  tomorrow
  2026
  6
  at 10:00
  ,May 6
  2026-05-06 10:00 banana
  2026-05-06T10:00:00Zjunk
  2026-05-06T10:00:00Z!
  2026-05-06 T10:00
  2026-05-06Tfoo
  2026-05-06 10:00 (
  (Israel Daylight Time)
  2026-05-06 ١٠:٠٠
  99999999999999999999-05-06
  2026-05-06 99999999999999999999:00
  2026-05-06 10:00 +99999999999999999999
  # Dates in the other tests of the workspace (aggregate, HTTP, properties).
  2001-01-01
  2020-01-01
  2020-01-01T00:00:00Z
  2026-04-30T12:00:00Z
  2026-05-01T12:00:00.900Z
  2026-05-01T12:00:00Z
  2026-05-02T00:00:00Z
  2026-05-06T10:31:21.999Z
  2026-06-01
  2099-01-01
  2099-01-01T09:00:00Z
  # Issue 8 item 6: a zone or offset after a date without a time.
  Wed, 06 May 2099 GMT
  Wed, 06 May 2099 UTC
  2099-05-06 UTC
  2099-05-06 GMT
  2099-05-06 Z
  2099-05-06Z
  2099-05-06 z
  2099-05-06 UT
  6 May 2099 +0300
  6 May 2099 -0700
  6 May 2099 +03:00
  2099-05-06 +0300
  2099-05-06 -07:00
  2099-05-06 +03
  2099-05-06+03:00
  2099-05-06 GMT+0300
  2099-05-06 UTC-7
  May 6, 2099 EST
  May 6 2099 PDT
  2099-05-06 CET
  2099-05-06 ZZ
  Wed May 06 2099 GMT+0300 (Israel Daylight Time)
  05/06 UTC
  May 2099 UTC
  # ISO 8601 basic and ordinal dates.
  20990506
  20990506T103121
  20990506T103121Z
  20990506T103121.5Z
  20990506T103121,5Z
  20990506T1031
  20990506T10
  20990506T103121+0300
  20990506T103121+03:00
  20990506T103121-07
  20990506 103121
  20990506 10:31:21
  20990506T10:31:21Z
  2099-05-06T103121Z
  990506
  0506
  20991306
  20990230
  20280229
  209905061031
  2099-126
  2099126
  2099-126T10:31
  2099-126T10:31:21Z
  2099-126 10:31
  2099126T103121Z
  2099-001
  2099-365
  2099-366
  2096-366
  2099-000
  2099-367
  2099-W19-3
  2099-W19
  2099W193
  --05-06
  # A T before the time after a written date, or on its own.
  May 6, 2099T10:31:21
  May 6 2099T10:31:21Z
  6 May 2099T10:31
  Wed, 06 May 2099T10:31:21 GMT
  06/05/2099T10:31
  2099/05/06T10:31:21
  06-May-2099T10:31
  T10:31
  T10:31:21Z
  2099-05-06t10:31:21z
  2099-05-06 T10:31
  2099-05-06T 10:31
  2099-05-06TT10:31
  # A date among words.
  on 2099-05-06 at 10:31
  on 2099-05-06
  2099-05-06 at 10:31
  at 10:31 on 2099-05-06
  follow up on May 6, 2099
  remind me on 6 May 2099 at 1:31 PM
  remind me on 6 May 2099 at 1:31 PM please
  2099-05-06T10:31:21Z please
  2099-05-06T10:31:21+03:00 sharp
  2099-05-06 10:31:21 UTC please
  Wed, 06 May 2099 10:31:21 GMT thanks
  2099-05-06 10:00 banana
  2099-05-06 10:31 please
  2099-05-06 please
  please 2099-05-06
  May banana 6 2099
  6 Mayday 2099
  date: 2099-05-06
  due 2099-05-06 10:31 UTC
  2099-05-06 10:31 local time
  2099-05-06 10:31 Israel Daylight Time
  2099-05-06 10:31 Pacific Standard Time
  2099-05-06 noon
  2099-05-06 midnight
  May 6 2099 BC
  2099-05-06 BC
  6 May 2099 AD
  6 May 2099 CE
  6 May 2099 BCE
  2099-05-06 b.c.
  the 6th of May 2099
  6th of May
  # Garbage.
  garbage
  next tuesday-ish
  yesterday
  today
  now
  null
  undefined
  NaN
  Invalid Date
  true
  0
  -1
  12
  99
  123
  12345
  1746527481
  4102444800
  1e10
  -2099-05-06
  +2099-05-06
  {}
  []
  2099-05-06!
  2099-05-06?
  #2099-05-06
  2099.05.06
  2099_05_06
  2099 05 06
  2099-05-06😀
  2099–05–06
  ２０９９-０５-０６
  May
  Mayo 6 2099
  Sunday
  a
  z
  pm
  10
  10 am
  10am
  10 pm
  1:31 PM
  1:31
  13h
  10h31
  10h31m15s
  # Leap days and rollovers.
  2028-02-29 23:59:59
  2100-02-29
  2000-02-29
  2099-02-29
  29 Feb 2096
  Feb 29
  Feb 30
  2099-04-31
  2099-05-06 23:59:60
  2099-05-06 23:59:59.999999999
  2099-05-06 24:00:00
  2099-05-06 24:01
  2099-12-31T23:30:00-01:00
  2099-01-01T00:30:00+01:00
  2099-12-31 24:00
  2099-05-32
  2099-05-06 10:61
  # Two-digit and short years.
  6 May 99
  6 May 30
  6 May 69
  6 May 70
  May 6 '30
  May 6 '99
  99-05-06
  30-05-06
  05/06/30
  06.05.30
  06-05-30
  6/5/99
  30/05/06
  06-May-30
  30-May-06
  999-05-06
  0999-05-06
  10000-05-06
  2099
  '99
  # Zone names and offsets.
  2099-05-06 10:31 UTC
  2099-05-06 10:31 UT
  2099-05-06 10:31 GMT
  2099-05-06 10:31 Z
  2099-05-06 10:31 EST
  2099-05-06 10:31 EDT
  2099-05-06 10:31 CET
  2099-05-06 10:31 CEST
  2099-05-06 10:31 BST
  2099-05-06 10:31 IST
  2099-05-06 10:31 JST
  2099-05-06 10:31 HST
  2099-05-06 10:31 AKST
  2099-05-06 10:31 A
  2099-05-06 10:31 J
  2099-05-06 10:31 M
  2099-05-06 10:31 N
  2099-05-06 10:31 Y
  2099-05-06 10:31 +03
  2099-05-06 10:31 +3
  2099-05-06 10:31 +0300
  2099-05-06 10:31 +03:00
  2099-05-06 10:31 +03:30
  2099-05-06 10:31 +0330
  2099-05-06 10:31 +330
  2099-05-06 10:31 -0000
  2099-05-06 10:31 +0000
  2099-05-06 10:31 +14:00
  2099-05-06 10:31 -12:00
  2099-05-06 10:31 +23:59
  2099-05-06 10:31 +030000
  2099-05-06 10:31 +03:00:30
  2099-05-06 10:31 GMT+3
  2099-05-06 10:31 GMT+03:00
  2099-05-06 10:31 GMT-0700
  2099-05-06 10:31 UTC+0530
  2099-05-06 10:31 UTC-7
  2099-05-06 10:31 +03 (Moscow)
  Wed May 06 2099 13:31:21 GMT+0300 (Israel Daylight Time)
  Wed May 06 2099 13:31:21 GMT-0300 (Brasilia Standard Time)
  Wed, 06 May 2099 10:31:21 +0000
  Wed, 06 May 2099 10:31:21 -0000
  Wed, 06 May 2099 13:31:21 +0300
  # Fractions.
  2099-05-06T10:31:21.5Z
  2099-05-06T10:31:21.123Z
  2099-05-06T10:31:21.123456789Z
  2099-05-06T10:31:21.1234567891Z
  2099-05-06T10:31:21.999999999999Z
  2099-05-06 10:31:21,5 +0300
  2099-05-06 10:31.5
  10:31:21.5
  # Twelve-hour clock.
  2099-05-06 12 am
  2099-05-06 12 pm
  2099-05-06 0 am
  2099-05-06 13 pm
  2099-05-06 1p.m.
  2099-05-06 1 P.M.
  2099-05-06 1:31:21 pm
  2099-05-06 1:31 a.m. EST
  May 6 2099 12:30 AM
  # Numeric and written dates, 2099.
  06/05/2099
  6/5/2099
  05/06/2099
  13/05/2099
  05/13/2099
  2099/05/06
  2099/5/6
  06.05.2099
  2099.05.06 10:31
  06-05-2099
  2099-5-6
  2099-05-06
  2099-05-06 10:31
  2099-05-06T10:31
  May 6, 2099
  May 6 2099
  6 May 2099
  6 May, 2099
  May 6th, 2099
  Wednesday, 6 May 2099
  Wed 6 May 2099 10:31
  Sat May 06 2099
  May-06-2099
  May/06/2099
  06/May/2099
  6-may-2099
  2099-May-06
  May 2099
  2099 May
  6 May
  May 6
  December 31
  Dec 31 23:59
  Jan 1
  # Found by comparing random token sequences with Ruby: where Ruby reads a different instant.
  2099-05-06 10:31 (x)
  2099-05-06 10:31 (Israel Daylight Time)
  2099-05-06 10:31 -1
  2099-05-06 10:31 +3:00
  2099-05-06 10:31 -126
  May 6 2099 +10:31
  1pm05/06/2099
  1:31 PM2099-05-06
  10:31 Jan 6 2099
  10:31 on May 6 2099
  Wed,Dec 31 2099
  Mayday 6 2099
  JuneT10:31
  by2099-05-06
  May 6 , 2099
  June, ,6 2099
  2099-126at
  2099-126 at 10:31
  20990506, at
  20990506 T
  Jan 1pm, 2nd
  Wed May 6 10:31:21 2099
  May 6 10:31 2099
  May 6 10:31, 2099
  6 10:31 May 2099
  May UTC 6
  2099-05-06 UTC 10:31
  10:31 UTC 2099-05-06
  May+03 2099
  0071-061
  May -8
  Dec 7 +0300
  ,2075-057
  10:31 GMT2099-05-06
INPUTS

SPECIAL = ['', '   ', "\t\n", "2026-05-06\t10:31", "2026-05-06\n10:31", "2026-05-06\u00a010:31"].freeze

# Inputs the project refuses, each answered "error".
def refused(*inputs)
  inputs.to_h { |input| [input, 'error'] }
end

# Where the project deliberately reads an input differently from Ruby (ADR 0005): reason =>
# { input => the project's answer }.
DIFFERENCES = {
  "numeric offset honoured (spec §4): Ruby drops it, or reads +03:00 after a date as a time" => {
    "Dec 7 +0300" => "2026-12-06T21:00:00Z",
    "2099-05-06 10:31 -1" => "2099-05-06T11:31:00Z",
    "2099-05-06 10:31 +3:00" => "2099-05-06T07:31:00Z",
    "2099-05-06 10:31 -126" => "2099-05-06T11:57:00Z",
    "May 6 2099 +10:31" => "2099-05-05T13:29:00Z",
    "Wed May 06 2026 13:31:21 GMT+0300 (Israel Daylight Time)" => "2026-05-06T10:31:21Z",
    "Tue May 05 2026 20:31:21 GMT-1400 (Far West Time)" => "2026-05-06T10:31:21Z",
    "Thu May 07 2026 00:31:21 GMT+1400 (Line Islands Time)" => "2026-05-06T10:31:21Z",
    "Wed May 06 2026 03:31:21 GMT-0700 (Pacific Daylight Time)" => "2026-05-06T10:31:21Z",
    "Wed May 06 2026 16:01:21 GMT+0530 (India (Standard) Time)" => "2026-05-06T10:31:21Z",
    "Wed May 06 2026 13:31:21 GMT+0300 (שעון ישראל (קיץ))" => "2026-05-06T10:31:21Z",
    "Wed May 06 2026 13:31:21 GMT+0300" => "2026-05-06T10:31:21Z",
    "2026-05-06 03:31:21 UTC-07:00" => "2026-05-06T10:31:21Z",
    "2026-05-06 13:31:21 GMT+03:00" => "2026-05-06T10:31:21Z",
    "2026-05-06 13:31:21 UTC+3" => "2026-05-06T10:31:21Z",
    "2026-05-06 13:31:21 utc+0300" => "2026-05-06T10:31:21Z",
    "2026-05-06 11:01:21 +030" => "2026-05-06T10:31:21Z",
    "6 May 2099 +0300" => "2099-05-05T21:00:00Z",
    "6 May 2099 -0700" => "2099-05-06T07:00:00Z",
    "6 May 2099 +03:00" => "2099-05-05T21:00:00Z",
    "2099-05-06 +0300" => "2099-05-05T21:00:00Z",
    "2099-05-06 +03" => "2099-05-05T21:00:00Z",
    "2099-05-06 GMT+0300" => "2099-05-05T21:00:00Z",
    "2099-05-06 UTC-7" => "2099-05-06T07:00:00Z",
    "Wed May 06 2099 GMT+0300 (Israel Daylight Time)" => "2099-05-05T21:00:00Z",
    "20990506T103121+03:00" => "2099-05-06T07:31:21Z",
    "2099-05-06 10:31 +3" => "2099-05-06T07:31:00Z",
    "2099-05-06 10:31 +330" => "2099-05-06T07:01:00Z",
    "2099-05-06 10:31 GMT+3" => "2099-05-06T07:31:00Z",
    "2099-05-06 10:31 GMT+03:00" => "2099-05-06T07:31:00Z",
    "2099-05-06 10:31 GMT-0700" => "2099-05-06T17:31:00Z",
    "2099-05-06 10:31 UTC+0530" => "2099-05-06T05:01:00Z",
    "2099-05-06 10:31 UTC-7" => "2099-05-06T17:31:00Z",
    "Wed May 06 2099 13:31:21 GMT+0300 (Israel Daylight Time)" => "2099-05-06T10:31:21Z",
    "Wed May 06 2099 13:31:21 GMT-0300 (Brasilia Standard Time)" => "2099-05-06T16:31:21Z",
  },
  "a zone after a date without a time is honoured: Ruby ignores it" => {
    "May 6, 2099 EST" => "2099-05-06T05:00:00Z",
    "May 6 2099 PDT" => "2099-05-06T07:00:00Z",
  },
  "impossible date or time refused: Ruby rolls it over" => refused(
    "2026-05-06 10:31:21 +03:60",
    "2026-05-06 13:00 pm",
    "2026-05-06 0:30 am",
    "2026-02-29",
    "2026-02-30",
    "31/04/2026",
    "2026-05-06 24:00",
    "2026-05-06 10:00:60",
    "20990230",
    "2100-02-29",
    "2099-02-29",
    "Feb 29",
    "Feb 30",
    "2099-04-31",
    "2099-05-06 23:59:60",
    "2099-05-06 24:00:00",
    "2099-12-31 24:00",
    "2099-05-06 0 am",
    "2099-05-06 13 pm",
  ),
  "two-digit year refused: Ruby guesses the century, or reads yy/mm/dd" => refused(
    "06/05/26",
    "990506",
    "6 May 99",
    "6 May 30",
    "6 May 69",
    "6 May 70",
    "May 6 '30",
    "May 6 '99",
    "99-05-06",
    "30-05-06",
    "05/06/30",
    "06.05.30",
    "06-05-30",
    "30/05/06",
    "06-May-30",
    "30-May-06",
    "'99",
  ),
  "year before 1000, beyond 9999 or with a sign refused: Ruby reads 0071-061 as 1971" => refused(
    "0071-061",
    "0999-05-06",
    "99999999999999999999-05-06",
    "999-05-06",
    "10000-05-06",
    "+2099-05-06",
    "-2099-05-06",
  ),
  "unknown word where a zone goes refused: Ruby reads the wall time as UTC" => refused(
    "2026-05-06 10:31:21 CET",
    "2026-05-06 10:00 banana",
    "2026-05-06T10:00:00Zjunk",
    "2026-05-06Tfoo",
    "2099-05-06 CET",
    "2099-05-06 ZZ",
    "remind me on 6 May 2099 at 1:31 PM please",
    "2099-05-06 10:00 banana",
    "2099-05-06 10:31 please",
    "2099-05-06 please",
    "2099-05-06 10:31 local time",
    "2099-05-06 10:31 Israel Daylight Time",
    "2099-05-06 10:31 Pacific Standard Time",
    "2099-05-06 10:31 CET",
    "2099-05-06 10:31 CEST",
    "2099-05-06 10:31 BST",
    "2099-05-06 10:31 IST",
    "2099-05-06 10:31 JST",
    "2099-05-06 10:31 HST",
    "2099-05-06 10:31 AKST",
    "2099-05-06 10:31 J",
  ),
  "military zone letter refused: Ruby reads 10:31 a as UTC+1" => refused(
    "2099-05-06 10:31 A",
    "2099-05-06 10:31 M",
    "2099-05-06 10:31 N",
    "2099-05-06 10:31 Y",
  ),
  "word that changes the date refused: Ruby ignores it" => refused(
    "2099-05-06 noon",
    "2099-05-06 midnight",
    "May 6 2099 BC",
    "2099-05-06 BC",
    "6 May 2099 BCE",
  ),
  "word inside a written date refused: Ruby drops a component or reads a prefix as a month" => refused(
    "Mayday 6 2099",
    "JuneT10:31",
    "May banana 6 2099",
    "6 Mayday 2099",
    "the 6th of May 2099",
    "6th of May",
    "Mayo 6 2099",
  ),
  "bare number refused: Ruby reads a day, a day of the year or digits of a date" => refused(
    "12",
    "123",
    "12345",
    "1e10",
    "10",
    "0506",
    "209905061031",
    "20990506 103121",
  ),
  "stray punctuation, unbalanced parentheses or non-ASCII digits refused: Ruby skips them" => refused(
    "#2099-05-06",
    "Wed May 06 2026 13:31:21 GMT+0300 (Israel",
    "2026-05-06T10:00:00Z!",
    "2026-05-06 10:00 (",
    "2026-05-06 ١٠:٠٠",
    "2099-05-06!",
    "2099-05-06?",
    "2099-05-06😀",
    "date: 2099-05-06",
    "2099-05-06 b.c.",
    "2026-05-06T10:31:21.Z",
    "--05-06",
  ),
  "repeated or conflicting components refused: Ruby keeps one and drops the rest" => refused(
    "Jan 1pm, 2nd",
    "May UTC 6",
    "2099-05-06 UTC 10:31",
    "2026-05-06 13:31:21 GMT +0300",
    "6/5/2026/1",
    "6 2026 May",
    "May 6 May",
    "Wed Thu May 6",
    "2026-05-06 10:00 +99999999999999999999",
    "2099-05-06T103121Z",
  ),
  "zone after a date without a day refused: Ruby reads May -8 as May 8" => refused(
    "May -8",
    "May 2099 UTC",
  ),
  "sign directly after a date without a time refused: Ruby reads +03:00 as a time" => refused(
    "May+03 2099",
    "2099-05-06+03:00",
  ),
  "word touching a number refused: Ruby's patterns do not separate them" => refused(
    "10:31 GMT2099-05-06",
    "1pm05/06/2099",
    "1:31 PM2099-05-06",
    "by2099-05-06",
    "2099-05-06TT10:31",
    "2099-05-06T 10:31",
  ),
  "comma after a space or a second comma refused: Ruby's patterns stop there" => refused(
    "May 6 , 2099",
    "June, ,6 2099",
  ),
  "parenthesised comment ignored: Ruby reads a letter in it as a military zone" => {
    "2099-05-06 10:31 (x)" => "2099-05-06T10:31:00Z",
  },
  "rare form not read, for simplicity: refused" => refused(
    "20990506 T",
    "2026/05",
    "2026-05-06 10:5",
    "2099-05-06 10:31.5",
    "13h",
    "10h31",
    "10h31m15s",
    "May-06-2099",
    "May/06/2099",
    "06/May/2099",
    "2026-05-06 10:31:21 +030000",
    "2099-05-06 10:31 +030000",
    "2099-05-06 10:31 +03:00:30",
  ),
}.freeze

def rfc3339(time)
  time = time.utc
  fraction = time.nsec.zero? ? '' : format('.%09d', time.nsec).sub(/0+\z/, '')
  time.strftime('%Y-%m-%dT%H:%M:%S') + fraction + 'Z'
end

def ruby_reading(input)
  rfc3339(Time.parse(input, NOW))
rescue ArgumentError, RangeError
  'error'
end

def escape(text)
  text.gsub(/[\\\t\n\r]/, '\\' => '\\\\', "\t" => '\\t', "\n" => '\\n', "\r" => '\\r')
end

inputs = (LISTED.lines.map(&:chomp).reject { |line| line.start_with?('# ') } + SPECIAL).uniq
# Lines starting with "# " are the table's comments.
abort 'an input may not start with "# "' if SPECIAL.any? { |input| input.start_with?('# ') }
differs = DIFFERENCES.flat_map { |why, rows| rows.map { |input, ours| [input, [ours, why]] } }.to_h
unknown = differs.keys - inputs
abort "differences for inputs not listed: #{unknown.inspect}" unless unknown.empty?

rows = inputs.map do |input|
  ruby = ruby_reading(input)
  ours, why = differs[input]
  abort "#{input.inspect}: listed as a difference but Ruby agrees (#{ruby})" if ours == ruby
  [escape(input), ruby, ours, why].compact.join("\t")
end

File.write(TABLE, <<~HEAD + rows.join("\n") + "\n")
  # Generated by scripts/ruby-dates.rb with #{RUBY_DESCRIPTION}; do not edit by hand.
  # Time.parse(input, #{rfc3339(NOW)}) with TZ=UTC.
  # input\truby\t[project\twhy: only where the project deliberately differs, ADR 0005]
HEAD
puts "#{rows.size} rows, #{differs.size} deliberate differences -> #{TABLE}"
