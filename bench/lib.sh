# Shared by the bench scripts (sourced).
col() { # col CSV NAME → the value of column NAME in the CSV's second line
    awk -F, -v n="$2" 'NR==1{for(i=1;i<=NF;i++) if($i==n) c=i} NR==2{print $c}' <<<"$1"
}
